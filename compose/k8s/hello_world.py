"""Mooncake's hello world, attached to this node's store service through its
socket (MOONCAKE_IPC_SOCKET): the example client of compose/docker-compose.yml
and of the example Job in compose/k8s. Prints the value it read back and exits
0 when it is the one it put."""
import os
import sys
import time

from mooncake.store import MooncakeDistributedStore

socket_path = os.environ.get("MOONCAKE_IPC_SOCKET", "/run/mooncake/store.sock")
key = os.environ.get("MC_HELLO_KEY", "hello_key")
value = b"Hello, Mooncake Store!"

store = MooncakeDistributedStore()
deadline = time.monotonic() + float(os.environ.get("MC_HELLO_WAIT_S", "60"))
while True:  # the store service of this node may still be starting
    rc = store.setup_dummy(512 * 1024 * 1024, 16 * 1024 * 1024, socket_path)
    if rc == 0:
        break
    if time.monotonic() > deadline:
        sys.exit(f"hello_world: cannot attach to {socket_path}: {rc}")
    time.sleep(1)

rc = store.put(key, value)
if rc != 0:
    sys.exit(f"hello_world: put failed: {rc}")
got = store.get(key)
print(got.decode())
store.close()
sys.exit(0 if got == value else 1)
