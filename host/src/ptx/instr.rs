//! Decoded instruction representation: every operand is resolved at parse
//! time (register indices, symbol kinds, branch targets) so the interpreter
//! never looks a name up while running. The operation enum itself is in
//! [`super::op`].

pub(crate) use super::op::{Inst, Op};

/// Index of a virtual register in the current function's register frame.
pub(crate) type Reg = u32;
/// "No register": an unguarded instruction, a `_` sink or a `red` result.
pub(crate) const NO_REG: Reg = u32::MAX;

/// PTX fundamental types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ty {
    B8,
    B16,
    B32,
    B64,
    U8,
    U16,
    U32,
    U64,
    S8,
    S16,
    S32,
    S64,
    F16,
    /// bfloat16 (8-bit significand, f32's exponent range).
    BF16,
    /// Two f16 (or bf16) in one 32-bit register, the first operand of a
    /// pack in the upper half.
    F16x2,
    BF16x2,
    /// Two 16-bit integers in one 32-bit register (SIMD `add`/`min`...).
    U16x2,
    S16x2,
    F32,
    F64,
    Pred,
}

impl Ty {
    /// Parses a type name without its leading dot (`u32`).
    pub(crate) fn parse(s: &str) -> Option<Ty> {
        Some(match s {
            "b8" => Ty::B8,
            "b16" => Ty::B16,
            "b32" => Ty::B32,
            "b64" => Ty::B64,
            "u8" => Ty::U8,
            "u16" => Ty::U16,
            "u32" => Ty::U32,
            "u64" => Ty::U64,
            "s8" => Ty::S8,
            "s16" => Ty::S16,
            "s32" => Ty::S32,
            "s64" => Ty::S64,
            "f16" => Ty::F16,
            "bf16" => Ty::BF16,
            "f16x2" => Ty::F16x2,
            "bf16x2" => Ty::BF16x2,
            "u16x2" => Ty::U16x2,
            "s16x2" => Ty::S16x2,
            "f32" => Ty::F32,
            "f64" => Ty::F64,
            "pred" => Ty::Pred,
            _ => return None,
        })
    }

    /// Whether `s` names any PTX type, supported or not.
    pub(crate) fn is_type_name(s: &str) -> bool {
        Ty::parse(s).is_some()
            || matches!(
                s,
                "b128" | "tf32" | "e4m3" | "e5m2" | "e4m3x2" | "e5m2x2" | "s16x2" | "u16x2"
            )
    }

    /// Width in bits (a predicate counts as 1).
    pub(crate) fn bits(self) -> u32 {
        match self {
            Ty::Pred => 1,
            Ty::B8 | Ty::U8 | Ty::S8 => 8,
            Ty::B16 | Ty::U16 | Ty::S16 | Ty::F16 | Ty::BF16 => 16,
            Ty::B32 | Ty::U32 | Ty::S32 | Ty::F32 => 32,
            Ty::F16x2 | Ty::BF16x2 | Ty::U16x2 | Ty::S16x2 => 32,
            Ty::B64 | Ty::U64 | Ty::S64 | Ty::F64 => 64,
        }
    }

    /// Size in memory (a predicate counts as 1 byte).
    pub(crate) fn bytes(self) -> usize {
        (self.bits() as usize).div_ceil(8)
    }

    pub(crate) fn is_signed(self) -> bool {
        matches!(self, Ty::S8 | Ty::S16 | Ty::S32 | Ty::S64)
    }

    /// A scalar floating-point type (the packed x2 types are not).
    pub(crate) fn is_float(self) -> bool {
        matches!(self, Ty::F16 | Ty::BF16 | Ty::F32 | Ty::F64)
    }

    /// f16 or bf16, scalar or packed: the types of the half-precision ALU.
    pub(crate) fn is_half(self) -> bool {
        matches!(self, Ty::F16 | Ty::BF16 | Ty::F16x2 | Ty::BF16x2)
    }
}

/// Special (read-only) registers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Special {
    Tid(u8),
    Ntid(u8),
    Ctaid(u8),
    Nctaid(u8),
    LaneId,
    WarpId,
    NWarpId,
    SmId,
    NSmId,
    GridId,
    Clock,
    ClockHi,
    Clock64,
    GlobalTimer,
    LaneMaskEq,
    LaneMaskLt,
    LaneMaskLe,
    LaneMaskGt,
    LaneMaskGe,
    DynSmem,
    TotalSmem,
}

/// A symbol whose *address* an operand denotes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Sym {
    /// Module `.global`/`.const` variable (index into `Module::globals`),
    /// placed by the executor.
    Global(u32),
    /// `.shared` variable (index into the module's shared table); its offset
    /// comes from the kernel's shared layout.
    Shared(u32),
    /// `.local` variable at this frame-relative offset.
    Local(u32),
    /// Kernel parameter at this offset of the parameter buffer.
    KParam(u32),
    /// Call-frame `.param` slot at this frame-relative offset.
    Scratch(u32),
}

/// A source operand.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Operand {
    Reg(Reg),
    /// `!%p`: the negation of a predicate register.
    NotPred(Reg),
    /// Immediate, already converted to the instruction type's bit pattern.
    Imm(u64),
    Special(Special),
    /// Address of a symbol plus a byte offset.
    Sym(Sym, i64),
}

/// Base of an address expression `[base+off]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AddrBase {
    Reg(Reg),
    Sym(Sym),
    /// `[imm]`: the offset is the whole address.
    Abs,
}

/// An address expression `[base+off]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Addr {
    pub base: AddrBase,
    pub off: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum IOp {
    Add,
    Sub,
    AddSat,
    SubSat,
    MulLo,
    MulHi,
    Div,
    Rem,
    Min,
    Max,
    And,
    Or,
    Xor,
    Shl,
    Shr,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum IUn {
    Neg,
    Abs,
    Not,
    Cnot,
    Popc,
    Clz,
    Brev,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FOp {
    Add,
    Sub,
    Mul,
    Div,
    Min,
    Max,
    MinNaN,
    MaxNaN,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FUn {
    Neg,
    Abs,
    Sqrt,
    Rsqrt,
    Rcp,
    Sin,
    Cos,
    Ex2,
    Lg2,
    Tanh,
}

/// IEEE rounding direction (`.rn .rz .rm .rp`, or the integer-result
/// `.rni .rzi .rmi .rpi`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Rnd {
    Rn,
    Rz,
    Rm,
    Rp,
}

/// Floating-point modifiers of one instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FMode {
    pub rnd: Rnd,
    pub ftz: bool,
    pub sat: bool,
    pub approx: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cmp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Lo,
    Ls,
    Hi,
    Hs,
    Equ,
    Neu,
    Ltu,
    Leu,
    Gtu,
    Geu,
    Num,
    Nan,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BoolOp {
    And,
    Or,
    Xor,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AtomOp {
    Add,
    Min,
    Max,
    Exch,
    Cas,
    And,
    Or,
    Xor,
    Inc,
    Dec,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MadMode {
    Lo,
    Hi,
    Wide,
}

/// A frame-relative `.param` slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Slot {
    pub off: u32,
    pub size: u32,
}

/// `shfl` modes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ShflMode {
    Up,
    Down,
    Bfly,
    Idx,
}

/// `vote` modes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum VoteMode {
    All,
    Any,
    Uni,
    Ballot,
}

/// `redux.sync` operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ReduxOp {
    Add,
    Min,
    Max,
    And,
    Or,
    Xor,
}

/// What the lanes of one warp-synchronous operation must agree on: lanes
/// waiting with the same kind and member mask complete together.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WarpKind {
    Shfl(ShflMode),
    Vote(VoteMode),
    MatchAny,
    MatchAll,
    /// The operation and its (signed or unsigned) 32-bit type.
    Redux(ReduxOp, Ty),
    /// `bar.warp.sync`.
    Sync,
}

/// `bar.red` reductions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BarRed {
    Popc,
    And,
    Or,
}

/// `testp` properties.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TestKind {
    Finite,
    Infinite,
    Number,
    NotANumber,
    Normal,
    Subnormal,
}

/// Half-precision (f16/bf16, scalar or x2) operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HOp {
    Add,
    Sub,
    Mul,
    Fma,
    Min,
    Max,
    Neg,
    Abs,
}

/// Carry-chain arithmetic (`add.cc addc sub.cc subc mad.cc madc`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CarryOp {
    Add,
    Sub,
    MadLo,
    MadHi,
}
