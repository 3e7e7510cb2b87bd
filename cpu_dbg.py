import asyncio, os, tempfile, time
from pathlib import Path
from scripts import bench
from scripts.stack import Tansu
from shared.logging import configure_logging
def cpu(pid):
    f=open(f"/proc/{pid}/stat").read().split(")")[1].split()
    return (int(f[11])+int(f[12]))/os.sysconf("SC_CLK_TCK")
async def main():
    configure_logging("bench", "WARNING", json=False)
    t = Tansu().start()
    tp = t.process.pid if hasattr(t, "process") else None
    try:
        with tempfile.TemporaryDirectory() as d:
            for name in ("raw", "ours"):
                c0, t0, w0 = cpu(os.getpid()), cpu(tp), time.perf_counter()
                if name == "raw": r = await bench.raw_path(t.bootstrap, 100000)
                else: r = await bench.our_path(t.bootstrap, 100000, bench.database_urls("sqlite", Path(d), None))
                print(name, round(r), "wall", round(time.perf_counter()-w0,1), "python cpu", round(cpu(os.getpid())-c0,1), "tansu cpu", round(cpu(tp)-t0,1))
    finally: t.stop()
asyncio.run(main())
