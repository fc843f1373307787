#!/usr/bin/env python3
"""Generates the tracer's per-name code from the CUDA headers (build time only).

Names: every export of NVIDIA's R580 libcuda that userlib/proc-address/r580.tsv
records, every cu* function CUDA's driver headers declare (including the
_v2/_ptds/_ptsz names their macros make), every name our libcuda exports
(userlib/src/exports.rs) and those extra-names.txt adds. A name whose
prototype cuda.h declares (read with
__CUDA_API_VERSION_INTERNAL, which declares the legacy and per-thread names
with their own ABIs) gets a typed C wrapper that logs arguments and result;
the rest get an untyped trampoline (trampolines.S).

Writes into --out: calls.c (typed wrappers), stubs.S (untyped trampolines),
names.c (the sorted name table), names.txt (name and kind, for reading).
"""
import argparse
import os
import re
import subprocess
import sys

# Written by hand in lookup.c.
SPECIAL = {"cuGetProcAddress", "cuGetProcAddress_v2", "cuGetExportTable"}

# Non-const pointer parameters that are input arrays (or in-out structs whose
# first bytes say nothing): their pointee is not printed after the call.
NOT_OUTPUTS = {
    "args", "attributes", "attrs", "attrsIdxs", "ctxCreateParams", "data", "dataSizes",
    "dptrs", "dsts", "srcs", "sizes", "extra", "kernelParams", "jitOptions",
    "jitOptionsValues", "libraryOptionValues", "libraryOptions", "launchParamsList",
    "mapInfoList", "options", "optionValues", "opList", "paramArray", "paramsArray",
    "prefetchLocIdxs", "prefetchLocs", "resources", "shareData", "pBorderColor",
    "instantiateParams", "nodeParams", "iterator",
}

# char * parameters the driver fills with a NUL-terminated string.
STRING_OUTPUTS = {"name", "pciBusId"}

HEADERS = ["cuda.h", "cudaGL.h", "cudaEGL.h", "cudaVDPAU.h", "cudaProfiler.h"]


def header_names(inc):
    """cu* function names in the headers' text, with the _ptds/_ptsz names
    that __CUDA_API_PTDS/__CUDA_API_PTSZ make."""
    names, inline = set(), set()
    for h in HEADERS:
        path = os.path.join(inc, h)
        if not os.path.exists(path):
            continue
        text = open(path, encoding="latin-1").read()
        names.update(re.findall(r"\bcu[A-Z]\w*(?=\s*\()", text))
        names.update(re.findall(r"^\s*#\s*define\s+cu[A-Z]\w*\s+(cu[A-Z]\w*)\s*$", text, re.M))
        for kind, name in re.findall(r"__CUDA_API_(PTDS|PTSZ)\(\s*(cu[A-Z]\w*)\s*\)", text):
            names.add(name)
            names.add(name + "_" + kind.lower())
        inline.update(re.findall(r"\bstatic\s+inline\s+CUresult\s+(cu\w+)", text))
    return names - inline  # header-only helpers, no library exports them


def prototypes(inc, cc):
    """name -> [(type, param name)] for every prototype cuda.h declares."""
    pp = subprocess.run(
        [cc, "-E", "-P", "-D__CUDA_API_VERSION_INTERNAL", "-I", inc, "-x", "c", "-"],
        input="#include <cuda.h>\n", capture_output=True, text=True, check=True).stdout
    protos = {}
    for name, params in re.findall(r"\bCUresult\s+(cu\w+)\s*\(([^;{}]*?)\)\s*;", pp):
        params = " ".join(params.split())
        args = []
        if params not in ("", "void"):
            for p in params.split(","):
                m = re.match(r"^(.*?[\s*])(\w+)$", p.strip())
                if not m or "(" in p or "[" in p:
                    sys.exit(f"gen.py: cannot parse parameter {p!r} of {name}")
                args.append((m.group(1).strip(), m.group(2)))
        if name in protos and protos[name] != args:
            sys.exit(f"gen.py: {name} declared twice with different parameters")
        protos[name] = args
    return protos


def is_output(ty, name):
    if name in NOT_OUTPUTS:
        return False
    t = ty.replace(" ", "")
    if t in ("void**", "constchar**"):
        return True
    return "const" not in ty and t.count("*") == 1 and t.rstrip("*") not in (
        "void", "char", "unsignedchar", "signedchar")


def typed_wrapper(name, idx, args, details):
    params = ", ".join(f"{t} {n}" if not t.endswith("*") else f"{t}{n}" for t, n in args) or "void"
    call = ", ".join(n for _, n in args)
    out = []
    if name in details:
        out.append(f"TR_HIDDEN void tr_detail_{name}(tr_line *l, {params});")
    out += [f"#undef {name}",
           f"TR_EXPORT CUresult {name}({params})",
           "{",
           "    tr_line l;",
           f"    __typeof__(&{name}) real = (__typeof__(&{name}))tr_call_begin(&l, {idx});",
           f"    CUresult r = real ? real({call}) : (CUresult)tr_missing();"]
    for _, n in args:
        out.append(f'    TR_ARG(&l, "{n}", {n});')
    if name in details:
        out.append(f"    tr_detail_{name}(&l, {call});")
    out.append(f"    tr_call_result(&l, {idx}, (int)r);")
    outs = [n for t, n in args if is_output(t, n)]
    strings = [n for t, n in args if t.replace(" ", "") == "char*" and n in STRING_OUTPUTS]
    if outs or strings:
        out.append("    if (r == CUDA_SUCCESS) {")
        for n in outs:
            out.append(f'        if ({n} && sizeof *{n} <= 16) TR_ARG(&l, "*{n}", *{n});')
        for n in strings:
            out.append(f'        if ({n}) TR_ARG(&l, "*{n}", (const char *){n});')
        out.append("    }")
    out += ["    tr_end(&l);", "    return r;", "}", ""]
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cuda-include", required=True)
    ap.add_argument("--r580", required=True)
    ap.add_argument("--exports", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--details", required=True, help="details.c: its tr_detail_<name> hooks")
    ap.add_argument("--extra", help="more names, one a line (# comments)")
    ap.add_argument("--cc", default="gcc")
    a = ap.parse_args()

    names = set()
    for line in open(a.r580):
        f = line.rstrip("\n").split("\t")
        if not line.startswith("#") and len(f) == 5 and f[4] != "-":
            names.add(f[4])
    names |= header_names(a.cuda_include)
    names |= set(re.findall(r"\bcu[A-Z]\w*\b", open(a.exports).read()))
    protos = prototypes(a.cuda_include, a.cc)
    details = set(re.findall(r"^void tr_detail_(cu\w+)\(", open(a.details).read(), re.M))
    if details - set(protos):
        sys.exit(f"gen.py: details.c hooks for unknown names: {sorted(details - set(protos))}")
    names |= set(protos)
    if a.extra:
        for line in open(a.extra):
            line = line.split("#")[0].strip()
            if line and not re.fullmatch(r"cu\w+", line):
                sys.exit(f"gen.py: {a.extra}: not a cu* name: {line!r}")
            if line:
                names.add(line)
    names |= SPECIAL
    names = sorted(names, key=lambda s: s.encode())  # strcmp order, for bsearch

    os.makedirs(a.out, exist_ok=True)
    calls = ["/* Generated by gen.py from cuda.h: typed wrappers. */",
             '#include "tracer.h"', "#include <cuda.h>", "",
             '#define TR_EXPORT __attribute__((visibility("default")))',
             "TR_HIDDEN int tr_missing(void);", ""]
    stubs = ["/* Generated by gen.py: untyped trampolines (see trampolines.S). */",
             "    .text"]
    kinds = []
    for i, n in enumerate(names):
        if n in SPECIAL:
            kinds.append("special")
        elif n in protos:
            kinds.append("typed")
            calls.append(typed_wrapper(n, i, protos[n], details))
        else:
            kinds.append("untyped")
            stubs += [f"    .globl {n}", f"    .type {n}, @function", "    .p2align 4", f"{n}:",
                      f"    movl ${i}, %r11d", "    jmp tr_generic_common", f"    .size {n}, .-{n}"]
    stubs.append('    .section .note.GNU-stack, "", @progbits')

    table = ["/* Generated by gen.py: every name the tracer exports, sorted. */",
             '#include "tracer.h"', ""]
    table += [f"extern void {n}(void);" for n in names]
    table.append(f"\nconst int tr_name_count = {len(names)};")
    table.append("const char *const tr_names[] = {")
    table += [f'    "{n}",' for n in names]
    table.append("};\nvoid *const tr_self[] = {")
    table += [f"    (void *){n}," for n in names]
    table.append(f"}};\nvoid *tr_real[{len(names)}];")

    for fname, lines in (("calls.c", calls), ("stubs.S", stubs), ("names.c", table),
                         ("names.txt", [f"{n}\t{k}" for n, k in zip(names, kinds)])):
        with open(os.path.join(a.out, fname), "w") as f:
            f.write("\n".join(lines) + "\n")
    print(f"gen.py: {len(names)} names, {kinds.count('typed')} typed, "
          f"{kinds.count('untyped')} untyped")


if __name__ == "__main__":
    main()
