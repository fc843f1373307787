"""Unit tests of scripts/bench-report.py on canned benchmark output.
Run: python3 -m unittest discover -s scripts -p 'test_*.py'
"""

import contextlib
import importlib.util
import io
import json
import os
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("bench_report", os.path.join(HERE, "bench-report.py"))
bench_report = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench_report)

NATIVE = """CASE setup PASS 9ms NVIDIA H200, driver 13000
BENCH sync_idle 0.640 us median of 10000, p10 0.6 p90 0.7
BENCH launch_async 233000.000 launches/s 100000 launches then one cuCtxSynchronize
BENCH htod_pinned_64MiB 52000.000 MiB/s 10 copies of 64MiB
BENCH htod_pageable_1GiB 8000.000 MiB/s 2 copies of 1GiB
BENCH sgemm_4096 50.000 TFLOP/s 100 cublasSgemm calls
BENCH torch_mlp_step 2.000 ms median of 50 steps
4 passed, 0 failed
"""
SOCKET = """BENCH sync_idle 2.000 us median
BENCH launch_async 100000.000 launches/s
BENCH htod_pinned_64MiB 49400.000 MiB/s
BENCH htod_pageable_1GiB 1000.000 MiB/s
BENCH sgemm_4096 49.000 TFLOP/s
BENCH torch_mlp_step 4.000 ms
CASE bench-copy FAIL 10ms cuMemcpyDtoH: CUDA_ERROR_INVALID_VALUE
"""
# A guest's serial log: @@-prefixed lines, CRs, other output between.
VM = "runner: booted\r\n@@BENCH sync_idle 64.000 us median\r\n@@BENCH htod_pageable_1GiB 24000.0 MiB/s x\n" \
     "@@RESULT bench/bench-launch FAIL 5ms boom\n"


def write(dirname, name, text):
    path = os.path.join(dirname, name)
    with open(path, "w") as f:
        f.write(text)
    return path


class BenchReport(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = self.tmp.name
        self.native = write(self.dir, "native.txt", NATIVE)
        self.socket = write(self.dir, "socket.txt", SOCKET)
        self.vm = write(self.dir, "vm.txt", VM)

    def tearDown(self):
        self.tmp.cleanup()

    def run_report(self, *extra):
        out = os.path.join(self.dir, "out.json")
        md = os.path.join(self.dir, "out.md")
        argv = ["--native", self.native, "--socket", self.socket, "--vm", self.vm,
                "--date", "2026-12-02", "--commit", "abc1234", "--gpu", "NVIDIA H200",
                "--driver", "580.159.04", "--accel", "tcg", "--command", "cmd",
                "--json", out, "--markdown", md] + list(extra)
        with contextlib.redirect_stderr(io.StringIO()):
            self.assertEqual(bench_report.main(argv), 0)
        with open(out) as f, open(md) as g:
            return json.load(f), g.read()

    def row(self, report, name, path):
        rows = [r for r in report["results"] if r["name"] == name and r["path"] == path]
        self.assertEqual(len(rows), 1, (name, path))
        return rows[0]

    def test_ratios_are_oriented_so_more_is_better(self):
        report, _ = self.run_report()
        for key in ("date", "commit", "gpu", "driver", "results"):
            self.assertIn(key, report)
        self.assertEqual(self.row(report, "launch_async", "socket")["ratio"], round(100000 / 233000, 4))
        # Times: native / vgpu.
        self.assertEqual(self.row(report, "sync_idle", "socket")["ratio"], 0.32)
        self.assertEqual(self.row(report, "torch_mlp_step", "socket")["ratio"], 0.5)
        self.assertEqual(self.row(report, "htod_pageable_1GiB", "vm")["ratio"], 3.0)
        r = self.row(report, "sync_idle", "vm")
        self.assertEqual((r["native"], r["vgpu"], r["unit"]), (0.64, 64.0, "us"))
        self.assertEqual(set(report["results"][0]), {"name", "path", "unit", "native", "vgpu", "ratio"})

    def test_a_figure_missing_on_one_side_has_no_ratio(self):
        report, _ = self.run_report()
        r = self.row(report, "sgemm_4096", "vm")
        self.assertIsNone(r["vgpu"])
        self.assertIsNone(r["ratio"])
        self.assertEqual(report["failures"]["socket"], ["CASE bench-copy FAIL 10ms cuMemcpyDtoH: CUDA_ERROR_INVALID_VALUE"])
        self.assertEqual(report["failures"]["vm"], ["RESULT bench/bench-launch FAIL 5ms boom"])
        self.assertEqual(report["failures"]["native"], [])

    def test_targets(self):
        t = bench_report.target
        self.assertEqual(t("htod_pinned_64MiB", "vm"), ("ratio", ">=", 0.90))
        self.assertIsNone(t("htod_pinned_16MiB", "vm"))
        self.assertEqual(t("dtoh_pageable_256MiB", "vm"), ("ratio", ">=", 3.0))
        self.assertEqual(t("dtoh_pageable_256MiB", "socket"), ("ratio", ">=", 1.0))
        self.assertEqual(t("sync_idle", "socket"), ("value", "<=", 3.0))
        self.assertIsNone(t("sync_idle", "vm"))
        report, md = self.run_report()
        self.assertTrue(bench_report.met(self.row(report, "htod_pinned_64MiB", "socket")))
        self.assertTrue(bench_report.met(self.row(report, "sync_idle", "socket")))
        self.assertFalse(bench_report.met(self.row(report, "sgemm_4096", "vm")))
        self.assertFalse(bench_report.met(self.row(report, "torch_mlp_step", "socket")))
        self.assertIn("| sync_idle | us | 0.64 | 2.00 | 0.32 | 64.00 | 0.01 | socket ≤ 3 us: met |", md)
        self.assertIn("## 2026-12-02: NVIDIA H200, driver 580.159.04, commit abc1234", md)
        self.assertIn("Failed (socket)", md)

    def test_history_of_either_shape_is_kept_newest_first(self):
        old = write(self.dir, "old.json", json.dumps({"runs": [{"date": "2026-12-01"}, {"date": "2026-11-22"}]}))
        first, _ = self.run_report("--history", old)
        self.assertEqual([r["date"] for r in first["history"]], ["2026-12-01", "2026-11-22"])
        again = write(self.dir, "again.json", json.dumps(first))
        second, _ = self.run_report("--history", again)
        self.assertEqual([r["date"] for r in second["history"]], ["2026-12-02", "2026-12-01", "2026-11-22"])
        self.assertNotIn("history", second["history"][0])
        self.assertIn("results", second["history"][0])

    def test_the_vm_path_may_have_its_own_native_run(self):
        other = write(self.dir, "native2.txt", "BENCH sync_idle 0.320 us\n")
        report, _ = self.run_report("--vm-native", other)
        self.assertEqual(self.row(report, "sync_idle", "vm")["ratio"], 0.005)
        self.assertEqual(self.row(report, "sync_idle", "socket")["native"], 0.64)
        self.assertIsNone(self.row(report, "htod_pageable_1GiB", "vm")["native"])

    def test_a_missing_history_file_starts_a_new_one(self):
        report, _ = self.run_report("--history", os.path.join(self.dir, "none.json"))
        self.assertEqual(report["history"], [])


if __name__ == "__main__":
    unittest.main()
