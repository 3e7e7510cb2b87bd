import asyncio, collections, tempfile
from pathlib import Path
from scripts import bench
from scripts.stack import Tansu
from shared.logging import configure_logging
import shared.messaging as m, shared.outbox as ob
sizes = collections.Counter(); rsizes = collections.Counter()
orig = m.EventConsumer.handle
async def h(self, records):
    sizes[len(records)//50*50] += 1; return await orig(self, records)
m.EventConsumer.handle = h
origp = ob.OutboxRelay._publish
async def p(self, rows):
    rsizes[len(rows)//100*100] += 1; return await origp(self, rows)
ob.OutboxRelay._publish = p
async def main():
    configure_logging("bench", "WARNING", json=False)
    t = Tansu().start()
    try:
        with tempfile.TemporaryDirectory() as d:
            urls = bench.database_urls("sqlite", Path(d), None)
            print(await bench.our_path(t.bootstrap, 50000, urls))
    finally: t.stop()
    print("consumer", sorted(sizes.items())); print("relay", sorted(rsizes.items()))
asyncio.run(main())
