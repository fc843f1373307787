//! Parsed module structures: the public [`Module`], [`Kernel`], [`Param`],
//! [`GlobalVar`] and [`Space`], and the crate-internal decoded function
//! bodies they own.

use super::error::PtxError;
use super::instr::{Inst, Op, Slot};

/// A PTX state space.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Space {
    /// Generic addressing (no state space on the instruction).
    Generic,
    Global,
    Const,
    Shared,
    Local,
    Param,
}

/// One kernel parameter in the packed parameter buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Param {
    pub name: String,
    /// Byte offset in the parameter buffer (aligned to `align`).
    pub offset: u32,
    pub size: u32,
    pub align: u32,
}

/// A module-scope `.global` or `.const` variable; the executor allocates it
/// in device memory, copies `init` there and resolves its name for
/// [`launch`](super::launch).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GlobalVar {
    pub name: String,
    pub size: u64,
    pub align: u32,
    /// Initial bytes given by the initializer, at most `size` long; the
    /// rest is zero (so zeros take no host memory until placed).
    pub init: Vec<u8>,
    /// [`Space::Global`] or [`Space::Const`].
    pub space: Space,
}

impl GlobalVar {
    /// The variable's full initial contents, `size` bytes.
    pub fn image(&self) -> Vec<u8> {
        let mut bytes = self.init.clone();
        bytes.resize(usize::try_from(self.size).unwrap_or(bytes.len()), 0);
        bytes
    }
}

/// A `.shared` variable (module scope or function scope).
#[derive(Clone, Debug)]
pub(crate) struct SharedVar {
    pub size: u64,
    pub align: u32,
    /// `.extern .shared x[]`: the dynamic shared memory window.
    pub is_extern: bool,
}

/// A decoded function body (a kernel's or a `.func`'s).
#[derive(Clone, Debug, Default)]
pub(crate) struct Function {
    pub name: String,
    pub code: Vec<Inst>,
    /// Registers of one frame.
    pub nregs: u32,
    /// `.local` bytes of one frame.
    pub local_size: u32,
    /// `.param` bytes of one frame (formal parameters, return values and
    /// call-site `.param` declarations).
    pub scratch_size: u32,
    /// Formal parameters of a `.func`, frame-relative.
    pub params: Vec<Slot>,
    /// Return parameters of a `.func`, frame-relative.
    pub rets: Vec<Slot>,
    /// Module functions called (indices into `Module::funcs`).
    pub calls: Vec<u32>,
    /// Shared variables referenced.
    pub shared_refs: Vec<u32>,
    pub defined: bool,
}

/// A `.entry` kernel.
#[derive(Clone, Debug)]
pub struct Kernel {
    pub name: String,
    pub params: Vec<Param>,
    pub(crate) body: Function,
    /// Bytes the parameter buffer must hold.
    pub(crate) param_size: u32,
    /// Offset in the block's shared memory of each shared variable this
    /// kernel can reach (indexed by shared variable id; `u64::MAX` if not).
    pub(crate) shared_layout: Vec<u64>,
    /// Static shared bytes.
    pub(crate) static_shared: u64,
    /// Offset of the dynamic shared window.
    pub(crate) dyn_base: u64,
}

impl Kernel {
    /// Bytes of the packed parameter buffer.
    pub fn param_size(&self) -> u32 {
        self.param_size
    }

    /// Static `.shared` bytes per block (excluding dynamic shared memory).
    pub fn static_shared_bytes(&self) -> u64 {
        self.static_shared
    }
}

/// A parsed PTX text module.
#[derive(Clone, Debug, Default)]
pub struct Module {
    pub(crate) kernels: Vec<Kernel>,
    pub(crate) funcs: Vec<Function>,
    pub(crate) globals: Vec<GlobalVar>,
}

impl Module {
    /// Parses PTX text. Unknown instructions do not fail parsing: they fail
    /// the launch of a kernel that executes them.
    pub fn parse(text: &str) -> Result<Module, PtxError> {
        super::parse::parse_module(text)
    }

    /// The kernel named `name` (mangled name, as in `.entry`).
    pub fn kernel(&self, name: &str) -> Option<&Kernel> {
        self.kernels.iter().find(|k| k.name == name)
    }

    pub fn kernels(&self) -> &[Kernel] {
        &self.kernels
    }

    /// Module-scope `.global`/`.const` variables.
    pub fn globals(&self) -> &[GlobalVar] {
        &self.globals
    }

    /// The instructions outside the simulator's subset (source line and
    /// text), which fail a launch that reaches them.
    pub fn unsupported_instructions(&self) -> Vec<(usize, &str)> {
        let bodies = self
            .kernels
            .iter()
            .map(|k| &k.body)
            .chain(self.funcs.iter().filter(|f| f.defined));
        let mut out: Vec<(usize, &str)> = bodies
            .flat_map(|f| &f.code)
            .filter_map(|i| match &i.op {
                Op::Unknown(text) => Some((i.line as usize, &**text)),
                _ => None,
            })
            .collect();
        out.sort_unstable();
        out
    }
}
