"""The two halves of scripts/hot_code.sh that read profiles and write crates/mcpgate/hot-code.txt.

  hot_code.py callgrind WORK OUT       the functions in WORK's callgrind dumps: serving (*.serve),
                                       hottest first, then start-up only (*.start)
  hot_code.py faults WORK BINARY OUT   adds the functions whose code faulted outside the laid-out
                                       section in WORK's page-fault traces (*.faults, perf) of BINARY
"""
import collections, glob, re, subprocess, sys

SECTION = ".text.mcpgate_runs"


def costs(paths):
    """Instructions per function (its own, by symbol) over callgrind dumps."""
    total = collections.Counter()
    for path in paths:
        fn, inclusive = None, False
        for line in open(path, encoding="utf-8", errors="replace"):
            if line.startswith("fn="):
                # A recursion level (`'2`) is the same function.
                fn, inclusive = line[3:].strip().split("'")[0], False
            elif line.startswith("calls="):
                inclusive = True  # the next cost line is the callee's, not fn's own
            elif line[:1].isdigit() or line[:1] in "+-*":
                parts = line.split()
                if fn and not inclusive and len(parts) >= 2 and parts[1].isdigit():
                    total[fn] += int(parts[1])
                inclusive = False
    return total


def pattern(symbol):
    """The symbol with what a rebuild changes left open: each crate's hash (v0 `Cs<hash>_`,
    back references `B<offset>_`, legacy `17h<hash>E`) and LLVM's suffixes (`.llvm.N`, `.N`), a C compiler's clones."""
    if not symbol.startswith(("_R", "_ZN")):
        # A C function's clones (`.part.0`, `.constprop.0`, `.isra.0`, `.cold`).
        base, dot, _ = symbol.partition(".")
        return base + ".*" if dot else symbol
    symbol = re.sub(r"\.(llvm\.)?[0-9]+$", "", symbol)
    symbol = re.sub(r"Cs[0-9A-Za-z]+_", "Cs*_", symbol)
    symbol = re.sub(r"B[0-9A-Za-z]*_", "B*_", symbol)
    symbol = re.sub(r"17h[0-9a-f]{16}E", "17h*E", symbol)
    return symbol + "*"


# The C runtime's, in sections no pattern names (`.init`, the start files' `.text`).
C_RUNTIME = {"_start", "_init", "_fini"}


def named(symbol):
    """A symbol name, not an address a tool could not name."""
    return not symbol.startswith("0x") and symbol != "[unknown]" and symbol not in C_RUNTIME


def from_callgrind(work, out):
    serving = costs(glob.glob(f"{work}/*.serve"))
    start = costs(glob.glob(f"{work}/*.start"))
    order, seen = [], set()
    for part in (serving, start):
        for symbol, _ in part.most_common():
            p = pattern(symbol)
            if named(symbol) and p not in seen:
                seen.add(p)
                order.append(p)
        if part is serving:
            ran_serving = len(order)
    with open(out, "w") as f:
        f.write("\n".join(order) + "\n")
    print(f"{out}: {len(order)} functions ({ran_serving} run serving, the rest at start-up)")


def code_faults(path, binary):
    """The functions of BINARY whose code faulted, from a `perf record -e page-faults -d`
    trace: a fault where the faulting address is the instruction's own is a fetch of code."""
    script = subprocess.run(
        ["perf", "script", "-i", path, "-F", "ip,addr,sym,dso", "--no-demangle"],
        capture_output=True, text=True, check=True,
    ).stdout
    # "<addr> <sym>+0x.. (<dso>) <ip> <sym>+0x.. (<dso>)"
    line_re = re.compile(r"\s*([0-9a-f]+) (\S+) \(([^)]*)\)\s+([0-9a-f]+) ")
    for line in script.splitlines():
        m = line_re.match(line)
        if m and m.group(1) == m.group(4) and m.group(3) == binary:
            yield m.group(2).split("+0x")[0]


def from_faults(work, binary, out):
    start, size = None, None
    for line in subprocess.run(["objdump", "-h", binary], capture_output=True, text=True).stdout.splitlines():
        parts = line.split()
        if len(parts) >= 4 and parts[1] == SECTION:
            size, start = int(parts[2], 16), int(parts[3], 16)
    if start is None:
        sys.exit(f"{binary} has no {SECTION}: build it with the layout first")
    address = {}
    for line in subprocess.run(["nm", "--defined-only", binary], capture_output=True, text=True).stdout.splitlines():
        parts = line.split(" ", 2)
        if len(parts) == 3:
            address.setdefault(parts[2], int(parts[0], 16))
    known = set(open(out).read().split())
    added = []
    for path in sorted(glob.glob(f"{work}/*.faults")):
        for symbol in code_faults(path, binary):
            at = address.get(symbol)
            p = pattern(symbol)
            if named(symbol) and at is not None and not start <= at < start + size and p not in known:
                known.add(p)
                added.append(p)
    with open(out, "a") as f:
        f.write("".join(p + "\n" for p in added))
    print(f"{out}: {len(added)} functions added that ran outside {SECTION}")


if __name__ == "__main__":
    if sys.argv[1] == "callgrind":
        from_callgrind(sys.argv[2], sys.argv[3])
    else:
        from_faults(sys.argv[2], sys.argv[3], sys.argv[4])
