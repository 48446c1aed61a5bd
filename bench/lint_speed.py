"""keylint's linting speed against ruff, Fixit and bare `ast.parse`, side by side in one run.

Benchmark, not a test. Corpus: every `.py` file of the running interpreter's standard library
(test folders included, site-packages excluded) plus an optional folder, copied to a temp folder
(so touching files never changes the real ones). Every tool gets the same explicit file list.
The timed commands alternate for --rounds rounds; each is run under a small wrapper that reports
its wall time and the peak RSS of the largest process it waited for (workers included). Besides
keylint, ruff and Fixit it times `ast.parse` of every file in one process and over one process per
core (the parse alone, which keylint's screen needs for every file), and two *floors*, over one
process per core: `ast.parse` of every file plus `libcst.parse_module` of only the files that have
a finding only libcst can give (the least any linter does that reports syntax errors, as KL001 does,
and runs its rules on libcst), and the same with one bare walk of every tree (no analysis: the
cheapest complete walk found), the least an `ast` screen that looks at every node once does.
keylint's bytecode is written first, as `pip install` writes it.

    python bench/lint_speed.py [FOLDER] [--rounds 3] [--no-fixit] [--no-equivalence]

At the end the findings of the fast path (screen, parallel workers, warm cache) are compared with a
single-process, no-cache, full-path run (every file through libcst, screen off) over the corpus.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import textwrap
from collections.abc import Sequence
from pathlib import Path

PY = sys.executable
BIN = Path(PY).parent
WRAPPER = textwrap.dedent(
    """
    import json, resource, subprocess, sys, time
    start = time.perf_counter()
    done = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wall = time.perf_counter() - start
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024  # kB on Linux
    print(json.dumps({"wall": wall, "rss": rss, "code": done.returncode, "err": done.stderr.decode()[-500:]}))
    """
)
AST_ONLY = textwrap.dedent(  # a file that does not parse must not end the run (the corpus has some)
    """
    import ast, sys
    for p in open(sys.argv[1]).read().split("\\n"):
        try:
            ast.parse(open(p, "rb").read())
        except (SyntaxError, ValueError):
            pass
    """
)
# `ast.parse` of every file over as many processes as keylint's workers; with a listing of files
# for libcst and `walk`, also the floors (the least a linter with libcst rules must do)
PARALLEL_PARSE = textwrap.dedent(
    """
    import ast, os, sys
    from multiprocessing import get_context

    # Fields that can hold nodes, per node class; `ctx` (Load/Store/Del) carries nothing to look at.
    FIELDS = {c: tuple(f for f in c._fields if f != "ctx")
              for c in vars(ast).values() if isinstance(c, type) and issubclass(c, ast.AST)}
    NEEDS_LIBCST = set(open(sys.argv[2]).read().split("\\n")) - {""}
    WALK = sys.argv[3] == "walk"

    def visit_every_node(tree):  # the cheapest complete walk found (no visitor, no generators)
        stack = [tree]
        pop, push, extend = stack.pop, stack.append, stack.extend
        while stack:
            node = pop()
            if node is None or node.__class__ is str:  # Dict keys may be None, Global names str
                continue
            for name in FIELDS[node.__class__]:
                value = getattr(node, name)
                if value.__class__ is list:
                    extend(value)
                elif isinstance(value, ast.AST):
                    push(value)

    def work(paths):
        for p in paths:
            data = open(p, "rb").read()
            try:
                tree = ast.parse(data)
            except (SyntaxError, ValueError):
                continue
            if WALK:
                visit_every_node(tree)
            if p in NEEDS_LIBCST:
                import libcst
                try:
                    libcst.parse_module(data)
                except Exception:
                    pass

    if __name__ == "__main__":
        # An ideal schedule: the few long libcst files start first, one per chunk, so no worker
        # waits for another at the end.
        files = [f for f in open(sys.argv[1]).read().split("\\n") if f not in NEEDS_LIBCST]
        chunks = [[f] for f in sorted(NEEDS_LIBCST, key=os.path.getsize, reverse=True)] + [files[i : i + 16] for i in range(0, len(files), 16)]
        with get_context("fork").Pool(os.cpu_count()) as pool:
            list(pool.imap(work, chunks))
    """
)
# `enable` alone adds to Fixit's default rules: disable the package, then enable the one rule
FIXIT_CONFIG = '[tool.fixit]\nroot = true\ndisable = ["fixit.rules"]\nenable = ["fixit.rules:NoStaticIfCondition"]\n'
ONE_FILE = "import time\n_seen = {}\n\ndef mark(x):\n    _seen[str(time.time())] = x\n"


def stdlib_files() -> list[Path]:
    root = Path(sysconfig.get_paths()["stdlib"])
    found = []
    for top, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in ("site-packages", "dist-packages", "__pycache__"))
        found.extend(Path(top) / f for f in sorted(files) if f.endswith(".py"))
    return found


def build_corpus(extra: Path | None, into: Path) -> list[str]:
    """Copy the corpus to `into`; returns the copied files' paths (sorted)."""
    sources: list[tuple[Path, Path]] = [(p, Path("stdlib") / p.relative_to(sysconfig.get_paths()["stdlib"])) for p in stdlib_files()]
    if extra is not None:
        sources += [(p, Path("extra") / p.relative_to(extra)) for p in sorted(extra.rglob("*.py")) if p.is_file()]
    copied = []
    for source, relative in sources:
        target = into / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        copied.append(str(target))
    (into / "pyproject.toml").write_text(FIXIT_CONFIG)  # Fixit's one-rule config; keylint: defaults
    return sorted(copied)


def compile_keylint() -> None:
    """Write keylint's bytecode, as `pip install` does for an installed package. An editable install
    under PYTHONDONTWRITEBYTECODE=1 (set on some machines) would otherwise compile keylint's modules
    from source in every run, while libcst's, installed by pip, come compiled."""
    import compileall
    import importlib.util

    import keylint

    folders = [os.path.dirname(keylint.__file__)]
    spec = importlib.util.find_spec("keylint.rules")
    folders += list(spec.submodule_search_locations or []) if spec else []
    for folder in folders:
        compileall.compile_dir(folder, quiet=1)


def measure(command: Sequence[str], cwd: Path, ok: Sequence[int] = (0, 1)) -> dict[str, float]:
    """`ok`: the exit codes of a finished run (Fixit adds 2 when some files do not parse: 3)."""
    out = subprocess.run([PY, "-c", WRAPPER, *command], cwd=cwd, capture_output=True, text=True, check=True)
    result = json.loads(out.stdout)
    if result["code"] not in ok:
        raise RuntimeError(f"{command[:3]} exited {result['code']}: {result['err']}")
    return result  # type: ignore[no-any-return]


def touch(files: list[str], share: float, tag: str) -> None:
    """Change the content of every 1/share-th file (an appended comment), as an edit would."""
    step = max(1, round(1 / share))
    for path in files[::step]:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(f"\n# touched by lint_speed {tag}\n")


def findings(output: str) -> set[tuple[object, ...]]:
    data = json.loads(output or "[]")
    items = data if isinstance(data, list) else data.get("findings", [])
    return {(d["path"], d["line"], d["column"], d["end_line"], d["end_column"], d["code"], d["message"]) for d in items}


FULL_PATH = textwrap.dedent(
    """
    import json, sys
    from keylint.config import discover_settings
    from keylint.engine import check_source
    from keylint.runner import read_source
    files = open(sys.argv[1]).read().split("\\n")
    settings = discover_settings(files)
    out = []
    for path in files:
        data = read_source(path, settings.max_file_size)
        found = [data] if not isinstance(data, bytes) else check_source(data, path, settings, screen=False)
        out.extend(d.to_json() for d in found)
    print(json.dumps(out))
    """
)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", type=Path, help="another folder of Python files to add to the corpus")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--touch", type=float, default=0.01, help="share of files changed for the 'touched' run")
    parser.add_argument("--no-fixit", action="store_true", help="skip Fixit (about a minute per 10 MB)")
    parser.add_argument("--no-equivalence", action="store_true", help="skip the full-path findings check")
    parser.add_argument("--fixit-timeout", type=int, default=1800, metavar="S", help="stop Fixit after S seconds")
    args = parser.parse_args(argv)

    compile_keylint()
    with tempfile.TemporaryDirectory(prefix="lint_speed_") as temp:
        work = Path(temp)
        corpus = work / "corpus"
        files = build_corpus(args.folder, corpus)
        listing = work / "files.txt"
        listing.write_text("\n".join(files))
        size = sum(os.path.getsize(f) for f in files)
        lines = sum(Path(f).read_bytes().count(b"\n") for f in files)
        print(f"corpus: {len(files)} files, {lines:,} lines, {size / 1e6:.1f} MB "
              f"(Python {sys.version.split()[0]} standard library{' + ' + str(args.folder) if args.folder else ''}); "
              f"{os.cpu_count()} cores", flush=True)

        keylint = [str(BIN / "keylint"), "check", "-q", "--exit-zero", *files]
        ruff = [str(BIN / "ruff"), "check", "--select", "ALL", "--exit-zero", "--quiet", "--output-format", "concise"]
        ruff_cache = str(work / "ruff_cache")
        subprocess.run([*ruff, "--cache-dir", ruff_cache, *files], cwd=corpus, capture_output=True)  # fill
        # The files any libcst-rules linter must give libcst: those with a rule's finding, or valid
        # Python that libcst cannot parse (only trying tells). Taken from keylint's own findings.
        first = subprocess.run([*keylint[:-len(files)], "--no-cache", "--output-format", "json", *files],
                               cwd=corpus, capture_output=True, text=True)
        if first.returncode not in (0, 1):
            raise SystemExit(f"keylint failed on the corpus: {first.stderr[-2000:]}")
        needs_libcst = sorted({d["path"] for d in json.loads(first.stdout or "[]")
                               if d["code"] != "KL001" or d["message"].startswith("valid Python that libcst")})
        needs_listing = work / "needs_libcst.txt"
        needs_listing.write_text("\n".join(str(corpus / p) for p in needs_libcst))
        no_listing = work / "no_files.txt"  # the bare parallel parse: libcst on no file
        no_listing.write_text("")
        floors = {f"floor: parse, {os.cpu_count()} processes": "none", f"floor: parse + one walk, {os.cpu_count()} processes": "walk"}
        print(f"floors: ast.parse of every file and libcst.parse_module of the {len(needs_libcst)} file(s) with "
              "a finding only libcst can give, without and with one bare walk of every tree", flush=True)
        times: dict[str, list[float]] = {}
        rss: dict[str, float] = {}

        def record(name: str, command: Sequence[str], ok: Sequence[int] = (0, 1)) -> None:
            result = measure(command, corpus, ok)
            times.setdefault(name, []).append(result["wall"])
            rss[name] = max(rss.get(name, 0.0), result["rss"])
            print(f"  {name:<38} {result['wall']:7.2f} s  {result['rss'] / 2**20:6.0f} MB", flush=True)

        for round_ in range(1, args.rounds + 1):
            print(f"round {round_}", flush=True)
            cache = str(work / f"keylint_cache_{round_}")
            record("keylint cold", [*keylint, "--cache-dir", cache])
            record("keylint warm", [*keylint, "--cache-dir", cache])
            touch(files, args.touch, f"round {round_}")
            record(f"keylint {args.touch:.0%} touched", [*keylint, "--cache-dir", cache])
            record("ruff ALL --no-cache", [*ruff, "--no-cache", *files])
            record("ruff ALL warm", [*ruff, "--cache-dir", ruff_cache, *files])
            # The helper scripts exit 0 (1 would be an exception, and a broken timing)
            record("ast.parse, 1 process", [PY, "-c", AST_ONLY, str(listing)], ok=(0,))
            record(f"ast.parse, {os.cpu_count()} processes",
                   [PY, "-c", PARALLEL_PARSE, str(listing), str(no_listing), "none"], ok=(0,))
            for floor_name, walk in floors.items():
                record(floor_name, [PY, "-c", PARALLEL_PARSE, str(listing), str(needs_listing), walk], ok=(0,))
        if not args.no_fixit:
            print("fixit, one rule (NoStaticIfCondition), once", flush=True)
            try:
                record("fixit 1 rule", ["timeout", str(args.fixit_timeout), str(BIN / "fixit"), "lint", *files], ok=(0, 1, 2, 3))
            except RuntimeError as exc:  # killed or timed out: report it, keep the rest of the run
                print(f"  fixit did not finish (time limit {args.fixit_timeout} s): {str(exc)[:200]}", flush=True)

        one = work / "one" / "one_file.py"
        one.parent.mkdir()
        one.write_text(ONE_FILE)
        plain = work / "one" / "plain.py"
        plain.write_text("def add(a, b):\n    return a + b\n")
        print("one file, 5 rounds", flush=True)
        for _ in range(5):
            record("import libcst", [PY, "-c", "import libcst"])
            record("keylint one file (finding)", [str(BIN / "keylint"), "check", "-q", "--exit-zero", "--no-cache", str(one)])
            record("keylint one file (clean)", [str(BIN / "keylint"), "check", "-q", "--no-cache", str(plain)])

        med = {name: statistics.median(values) for name, values in times.items()}
        print("\n| what | median wall s | peak RSS MB | runs |\n|---|---:|---:|---:|")
        for name in times:
            print(f"| {name} | {med[name]:.2f} | {rss[name] / 2**20:.0f} | {len(times[name])} |")
        cold, ruff_cold = med["keylint cold"], med["ruff ALL --no-cache"]
        touched = med[f"keylint {args.touch:.0%} touched"]
        one_file = max(med["keylint one file (finding)"], med["keylint one file (clean)"])
        peak = max(v for k, v in rss.items() if k.startswith("keylint")) / 2**20
        print("\n| ratio | value | target |\n|---|---:|---|")
        rows = [
            ("keylint cold / ruff ALL --no-cache", cold / ruff_cold, "<= 2", cold / ruff_cold <= 2),
            ("keylint warm / keylint cold", med["keylint warm"] / cold, "<= 0.10", med["keylint warm"] / cold <= 0.10),
            (f"keylint {args.touch:.0%} touched / cold", touched / cold, "<= 0.15", touched / cold <= 0.15),
            ("keylint one file / import libcst", one_file / med["import libcst"], "<= 2", one_file / med["import libcst"] <= 2),
            ("keylint cold / ast.parse 1 process", cold / med["ast.parse, 1 process"], "-", None),
            (f"ast.parse {os.cpu_count()} processes / ruff ALL --no-cache (the parse alone)",
             med[f"ast.parse, {os.cpu_count()} processes"] / ruff_cold, "-", None),
            ("keylint warm / ruff ALL warm", med["keylint warm"] / med["ruff ALL warm"], "-", None),
            *((f"{name} / ruff ALL --no-cache", med[name] / ruff_cold, "-", None) for name in floors),
        ]
        if "fixit 1 rule" in med:
            speedup = med["fixit 1 rule"] / cold
            rows.append(("Fixit 1 rule / keylint cold (speed-up)", speedup, ">= 10", speedup >= 10))
        for name, value, target, met in rows:
            verdict = "" if met is None else (" (met)" if met else " (MISSED)")
            print(f"| {name} | {value:.2f} | {target}{verdict} |")
        print(f"| peak RSS of the largest keylint process | {peak:.0f} MB | <= 300{' (met)' if peak <= 300 else ' (MISSED)'} |")
        parse_floor, walk_floor = (med[name] for name in floors)
        budget = 2 * ruff_cold - parse_floor
        print(f"\nWithin 2 x ruff, what the floor leaves for all analysis, start-up and output: {budget:.2f} s wall "
              f"({budget / len(files) * 1000:.2f} ms per file); one bare walk of every tree costs "
              f"{walk_floor - parse_floor:.2f} s wall.")
        if walk_floor > 2 * ruff_cold:
            print("No linter that parses every file (KL001 reports syntax errors), runs its rules on libcst, and looks "
                  "at every node once can be within 2 x ruff on this machine and corpus.")

        if not args.no_equivalence:
            print("\nfindings check: fast path (screen, workers, warm cache) vs --jobs 1 --no-cache full path (screen off)",
                  flush=True)
            fast_run = subprocess.run([*keylint[:-len(files)], "--output-format", "json", "--cache-dir",
                                       str(work / f"keylint_cache_{args.rounds}"), *files],
                                      cwd=corpus, capture_output=True, text=True)
            full_run = subprocess.run([PY, "-c", FULL_PATH, str(listing)], cwd=corpus, capture_output=True, text=True)
            if full_run.returncode != 0:
                print(f"full-path run failed: {full_run.stderr[-2000:]}")
                return 1
            fast, full = findings(fast_run.stdout), findings(full_run.stdout)
            print(f"fast path: {len(fast)} findings; full path: {len(full)} findings; identical: {fast == full}")
            for item in sorted(full - fast, key=str)[:10]:
                print(f"  only in the full path: {item}")
            for item in sorted(fast - full, key=str)[:10]:
                print(f"  only in the fast path: {item}")
            if fast != full:
                return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
