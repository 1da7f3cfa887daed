"""Per-call cost of transport.write (empty data: the binding's path without
a syscall) and get_write_buffer_size, through the asyncio.Transport facade
and on the Cython core directly (best of 7 x 200,000 calls).

    python python/benches/transport_call.py
"""
import asyncio
import socket
import timeit

import eddyloop

loop = eddyloop.new_event_loop()
a, b = socket.socketpair()
async def main():
    tr, _ = await loop.connect_accepted_socket(asyncio.Protocol, a)
    return tr
tr = loop.run_until_complete(main())
core = getattr(tr, '_core', tr)
for name, obj in (('facade', tr), ('core', core)):
    best_w = min(timeit.repeat(lambda: obj.write(b''), number=200000, repeat=7)) / 200000
    best_s = min(timeit.repeat(lambda: obj.get_write_buffer_size(), number=200000, repeat=7)) / 200000
    print(f'{name:7} write(b"") {best_w*1e9:6.1f} ns   get_write_buffer_size() {best_s*1e9:6.1f} ns')
tr.close(); loop.run_until_complete(asyncio.sleep(0)); loop.close(); b.close()
