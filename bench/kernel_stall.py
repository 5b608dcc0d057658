"""`python -m bench.kernel_stall`. Red-team re-measure (issue 29 item 4): /api/health while 1 or 4 bodies of 10 MB of one-element
kernel rows are posted to the kernel lab. Loopback only, a server of our own, bounded."""
import json, tempfile, threading, time
import httpx
import numpy as np

from bench.server import running_server
from tests.conftest import MODELS_DIR

pixels = json.dumps(np.zeros((28, 28)).tolist())
body = '{"pixels": %s, "options": {"kernel": [%s]}}' % (pixels, ",".join(["[1]"] * 2_400_000))
print(f"body {len(body) / 1e6:.1f} MB")
with running_server(MODELS_DIR, env={"CONVNET_VIS_CACHE_DIR": tempfile.mkdtemp()}) as url:
    for clients in (1, 4):
        statuses = []
        def post():
            r = httpx.post(url + "/api/models/mnist-convnet/kernel?preprocess=none", content=body,
                           headers={"content-type": "application/json"}, timeout=60)
            statuses.append(r.status_code)
        workers = [threading.Thread(target=post) for _ in range(clients)]
        lat = []
        with httpx.Client(timeout=30) as c:
            c.get(url + "/api/health")
            for w in workers: w.start()
            while any(w.is_alive() for w in workers):
                t = time.perf_counter(); c.get(url + "/api/health"); lat.append(time.perf_counter() - t); time.sleep(0.02)
        print(f"{clients} body(ies): statuses {statuses}; health {len(lat)} polls, max {max(lat)*1000:.1f} ms, "
              f"median {sorted(lat)[len(lat)//2]*1000:.1f} ms")
