"""`--bench-routes N --bench-route-accounts M` (the load benchmark's seed, README
"Benchmarks"): N routes B0001… of M accounts each, one per simulated handheld, each
downloadable on its own; seeding again on restart adds nothing."""
from __future__ import annotations

import requests

from sync.gateway.testing import GatewayProcess, enrol_device


def _snapshot(base_url: str, token: str, route_id: str) -> dict:
    r = requests.post(f"{base_url}/v1/routes/{route_id}/snapshots",
                      headers={"Authorization": f"Bearer {token}"}, timeout=30)
    r.raise_for_status()
    return r.json()


def test_bench_routes_give_each_handheld_its_own_route(tmp_path):
    gw = GatewayProcess(tmp_path / "gw.db", args=["--bench-routes", "3",
                                                   "--bench-route-accounts", "7"])
    gw.start()
    try:
        token = enrol_device(gw.base_url)["token"]
        counts = {r: _snapshot(gw.base_url, token, r)["count"]
                  for r in ("B0001", "B0002", "B0003")}
        assert counts == {"B0001": 7, "B0002": 7, "B0003": 7}
        gw.restart()
        assert _snapshot(gw.base_url, token, "B0002")["count"] == 7
        assert gw.query("SELECT count(DISTINCT account_no) FROM accounts "
                        "WHERE route_id LIKE 'B%'") == [(21,)]
        r = requests.post(f"{gw.base_url}/v1/routes/B0004/snapshots",
                          headers={"Authorization": f"Bearer {token}"}, timeout=30)
        assert r.status_code == 404
    finally:
        gw.stop()
