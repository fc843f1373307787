//! The decoded operation of one instruction ([`Op`]) and the instruction
//! with its guard and source line ([`Inst`]).

use super::ast::Space;
use super::instr::{
    Addr, AtomOp, BarRed, BoolOp, CarryOp, Cmp, FMode, FOp, FUn, HOp, IOp, IUn, MadMode, Operand,
    Reg, Rnd, Slot, TestKind, Ty, WarpKind,
};

/// One decoded operation.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Op {
    Mov {
        d: Reg,
        a: Operand,
    },
    /// `mov.b64 %rd, {%r1, %r2}`: low part first.
    Pack {
        d: Reg,
        parts: Box<[Operand]>,
        bits: u32,
    },
    /// `mov.b64 {%r1, %r2}, %rd`; `NO_REG` for `_`.
    Unpack {
        ds: Box<[Reg]>,
        a: Operand,
        bits: u32,
    },
    Int {
        op: IOp,
        ty: Ty,
        d: Reg,
        a: Operand,
        b: Operand,
    },
    IntUn {
        op: IUn,
        ty: Ty,
        d: Reg,
        a: Operand,
    },
    /// `mul.wide`; `ty` is the source type.
    MulWide {
        ty: Ty,
        d: Reg,
        a: Operand,
        b: Operand,
    },
    /// Integer `mad.lo/.hi/.wide`; for `.wide` `ty` is the source type.
    Mad {
        mode: MadMode,
        ty: Ty,
        d: Reg,
        a: Operand,
        b: Operand,
        c: Operand,
    },
    Bfe {
        ty: Ty,
        d: Reg,
        a: Operand,
        b: Operand,
        c: Operand,
    },
    Bfi {
        ty: Ty,
        d: Reg,
        ops: Box<[Operand; 4]>,
    },
    Prmt {
        d: Reg,
        a: Operand,
        b: Operand,
        c: Operand,
    },
    Lop3 {
        d: Reg,
        a: Operand,
        b: Operand,
        c: Operand,
        lut: u8,
    },
    Flt {
        op: FOp,
        ty: Ty,
        m: FMode,
        d: Reg,
        a: Operand,
        b: Operand,
    },
    FltUn {
        op: FUn,
        ty: Ty,
        m: FMode,
        d: Reg,
        a: Operand,
    },
    Fma {
        ty: Ty,
        m: FMode,
        d: Reg,
        a: Operand,
        b: Operand,
        c: Operand,
    },
    /// `setp`, or `set` when `set` holds the destination type (all ones /
    /// 1.0 for true).
    Setp {
        cmp: Cmp,
        ty: Ty,
        ftz: bool,
        d: Reg,
        d2: Reg,
        a: Operand,
        b: Operand,
        comb: Option<(BoolOp, Operand)>,
        set: Option<Ty>,
    },
    Selp {
        d: Reg,
        a: Operand,
        b: Operand,
        c: Operand,
    },
    /// `slct.dtype.ctype d, a, b, c`: `c >= 0 ? a : b`.
    Slct {
        cty: Ty,
        ftz: bool,
        d: Reg,
        a: Operand,
        b: Operand,
        c: Operand,
    },
    Cvt {
        dt: Ty,
        st: Ty,
        rnd: Option<Rnd>,
        irnd: Option<Rnd>,
        ftz: bool,
        sat: bool,
        d: Reg,
        a: Operand,
    },
    Cvta {
        to: bool,
        space: Space,
        d: Reg,
        a: Operand,
    },
    Ld {
        space: Space,
        ty: Ty,
        n: u8,
        ds: [Reg; 4],
        addr: Addr,
    },
    St {
        space: Space,
        ty: Ty,
        n: u8,
        srcs: [Operand; 4],
        addr: Addr,
    },
    /// `atom` (`d` = old value) or `red` (`d` = `NO_REG`).
    Atom {
        space: Space,
        op: AtomOp,
        ty: Ty,
        d: Reg,
        addr: Addr,
        b: Operand,
        c: Operand,
    },
    /// Branch; `target` is an instruction index once the body is finished.
    Bra {
        target: u32,
    },
    /// Direct call of module function `func`; slots are caller-frame relative.
    Call {
        func: u32,
        args: Box<[Slot]>,
        rets: Box<[Slot]>,
    },
    /// Device `printf`: the caller-frame slots holding the format string's
    /// and the argument buffer's generic addresses, and the result's.
    Printf {
        fmt: Slot,
        args: Slot,
        ret: Option<Slot>,
    },
    /// `__assertfail(message, file, line, function, char size)`: the slots
    /// of the first four.
    AssertFail {
        args: Box<[Slot; 4]>,
    },
    Ret,
    Exit,
    /// CTA barrier `id` (`bar.sync`, `barrier.sync`, `bar.arrive`,
    /// `bar.red`): `count` threads (all threads without it) must arrive;
    /// `wait` is false for `bar.arrive`. `red` is a `bar.red` reduction of
    /// a predicate into `d`.
    Bar {
        id: Operand,
        count: Option<Operand>,
        wait: bool,
        red: Option<Box<(BarRed, Reg, Operand)>>,
    },
    /// A warp-synchronous operation (`shfl`, `vote`, `match`, `redux`,
    /// `bar.warp.sync`): waits for the lanes of `mask` (`None`: the
    /// non-`.sync` forms, whose lanes are those running together). `d` and
    /// `p` are the results (`NO_REG` when absent); `a`, `b`, `c` the
    /// sources in PTX order.
    Warp {
        kind: WarpKind,
        d: Reg,
        p: Reg,
        a: Operand,
        b: Operand,
        c: Operand,
        mask: Option<Operand>,
    },
    /// `activemask.b32`: the lanes executing this instruction together.
    ActiveMask {
        d: Reg,
    },
    /// Integer arithmetic through the carry flag: `cin` adds (subtracts)
    /// it, `cout` (`.cc`) sets it from the carry (borrow) out.
    Carry {
        op: CarryOp,
        ty: Ty,
        cin: bool,
        cout: bool,
        d: Reg,
        a: Operand,
        b: Operand,
        c: Operand,
    },
    /// `add sub min max` on `u16x2`/`s16x2`: `op` per 16-bit lane.
    Simd2 {
        op: IOp,
        signed: bool,
        d: Reg,
        a: Operand,
        b: Operand,
    },
    /// Funnel shift `shf.{l,r}.{wrap,clamp}.b32`.
    Shf {
        left: bool,
        clamp: bool,
        d: Reg,
        a: Operand,
        b: Operand,
        c: Operand,
    },
    /// `sad`: `c + |a - b|`.
    Sad {
        ty: Ty,
        d: Reg,
        a: Operand,
        b: Operand,
        c: Operand,
    },
    /// `bfind` (position of the most significant non-sign bit).
    Bfind {
        ty: Ty,
        shiftamt: bool,
        d: Reg,
        a: Operand,
    },
    /// `copysign`: `b` with the sign of `a`.
    Copysign {
        ty: Ty,
        d: Reg,
        a: Operand,
        b: Operand,
    },
    Testp {
        kind: TestKind,
        ty: Ty,
        d: Reg,
        a: Operand,
    },
    /// `dp4a` (`lo == None`) or `dp2a.lo/.hi`; `sa`/`sb` say whether `a`/`b`
    /// are signed.
    Dot {
        lo: Option<bool>,
        sa: bool,
        sb: bool,
        d: Reg,
        a: Operand,
        b: Operand,
        c: Operand,
    },
    /// `isspacep.space`.
    Isspacep {
        space: Space,
        d: Reg,
        a: Operand,
    },
    /// `cp.async` (done at once): `size` bytes from global `src` to shared
    /// `dst`, of which only `src_size` are read (the rest are zeros).
    CpAsync {
        dst: Addr,
        src: Addr,
        size: u32,
        src_size: Option<Operand>,
    },
    /// f16/bf16 arithmetic, scalar or x2 (`ty` says which).
    Half {
        op: HOp,
        ty: Ty,
        m: FMode,
        d: Reg,
        a: Operand,
        b: Operand,
        c: Operand,
    },
    /// `cvt.rnd.{f16x2,bf16x2}.f32 d, a, b`: `a` converted into the upper
    /// half, `b` into the lower.
    CvtPack {
        dt: Ty,
        rnd: Rnd,
        relu: bool,
        d: Reg,
        a: Operand,
        b: Operand,
    },
    Trap,
    /// Ordering/hint instructions with no effect in this model.
    Nop,
    /// Anything outside the subset; fails the launch when executed.
    Unknown(Box<str>),
}

/// An instruction with its guard predicate and source line.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Inst {
    pub op: Op,
    /// Guard predicate register, or `NO_REG`.
    pub guard: Reg,
    /// `@!%p`: execute when the predicate is false.
    pub neg: bool,
    pub line: u32,
}
