"""Route download and change feed (contracts §4): a route's snapshot page by page into
staging (cursor committed with every page, so an interrupted download resumes; verified
count + digest; atomic swap), then the change feed since the local version."""
from __future__ import annotations

import concurrent.futures

from sync.errors import AuthError, ProtocolError, RouteVerifyFailed, TransientError
from sync.transport import _Unauthorized


class _SnapshotGone(Exception):
    pass


class Downloader:
    """The download half of `SyncClient` (uses its transport methods)."""

    def download_route(self, route_id: str, progress_cb=None, *, fresh: bool = False) -> dict:
        """Download a route's snapshot page by page into staging, verify, swap; resumes.

        `progress_cb(done, total)` is called after every committed page. Returns
        `{"route_id", "snapshot_id", "count", "resumed"}`.
        """
        from terminal import routes
        attempts = 0
        while True:
            attempts += 1
            try:
                return self._download_once(routes, route_id, progress_cb, fresh or attempts > 1)
            except _SnapshotGone:
                if attempts >= 3:
                    raise TransientError("route snapshot keeps expiring", code="snapshot_expired")
            except routes.RouteVerifyError as exc:
                if attempts >= 2:
                    raise RouteVerifyFailed(str(exc)) from exc

    def _download_once(self, routes, route_id, progress_cb, fresh):
        resume = None if fresh else routes.stage_resume_point(self.store, route_id)
        resumed = bool(resume and resume[1] is not None)
        if resumed:
            snapshot_id, cursor = resume
            total = None
        else:
            snap = self._snapshot_call("POST", f"/v1/routes/{route_id}/snapshots")
            snapshot_id, total = snap["snapshot_id"], int(snap["count"])
            routes.stage_begin(self.store, snap["header"], snapshot_id, total)
            cursor = None
        done = self._staged_count(route_id, snapshot_id)
        path = f"/v1/routes/{route_id}/snapshots/{snapshot_id}"
        headers = self._auth_headers()

        def fetch(after):   # on the helper thread: no re-authentication there
            params = {"limit": self.page_limit}
            if after is not None:
                params["after"] = after
            return self._snapshot_call("GET", path, params=params, auth_headers=headers,
                                       reauth=False)

        def result(fut, after):
            nonlocal headers
            try:
                return fut.result()
            except _Unauthorized as exc:
                headers = self.reauthenticate(headers, exc.server_time)
            try:
                return fetch(after)
            except _Unauthorized as exc:
                raise AuthError(exc.detail, status=401) from None

        # the next page is fetched while this one is staged; each page's rows and the
        # cursor after it still commit together, in order
        with concurrent.futures.ThreadPoolExecutor(1, "chaoshou-pages") as pool:
            pending, pending_after = pool.submit(fetch, cursor), cursor
            while True:
                page = result(pending, pending_after)
                accounts, nxt = page.get("accounts") or [], page.get("next")
                if nxt is not None:
                    pending, pending_after = pool.submit(fetch, nxt), nxt
                total = int(page.get("count", total or 0))
                routes.stage_page(self.store, snapshot_id, accounts, nxt)
                done += len(accounts)
                if progress_cb:
                    progress_cb(done, total)
                if nxt is None:
                    routes.stage_finish(self.store, snapshot_id, total, page.get("digest"))
                    break
        try:
            self._call("POST", f"/v1/routes/{route_id}/downloaded",
                       body={"snapshot_id": snapshot_id})
        except TransientError:
            pass   # the route is live; the flag is cleared on the next sync
        return {"route_id": route_id, "snapshot_id": snapshot_id, "count": total,
                "resumed": resumed}

    def _staged_count(self, route_id, snapshot_id) -> int:
        from terminal import routes
        status = routes.stage_status(self.store, route_id)
        return int(status["staged"]) if status and status["snapshot_id"] == snapshot_id else 0

    def _snapshot_call(self, method, path, **kw):
        try:
            return self._call(method, path, **kw)
        except ProtocolError as exc:
            if exc.status in (400, 404, 410):   # bad cursor, unknown or expired snapshot
                raise _SnapshotGone() from exc
            raise

    def pull_changes(self, route_id: str, progress_cb=None) -> dict:
        """Apply the change feed since the local route version; 410 → fresh snapshot reload."""
        from terminal import routes
        since = routes.current_version(self.store, route_id)
        if since is None:   # not on this device yet
            result = self.download_route(route_id, progress_cb)
            return {"reloaded": True, "changes": 0,
                    "version": routes.current_version(self.store, route_id), **result}
        applied, version = 0, since
        while True:
            try:
                doc = self._call("GET", f"/v1/routes/{route_id}/changes",
                                 params={"since": version})
            except ProtocolError as exc:
                if exc.status != 410:
                    raise
                # cursor expired (device offline too long): reload the snapshot; this
                # replaces server-owned tables only, never captures
                result = self.download_route(route_id, progress_cb, fresh=True)
                return {"reloaded": True, "changes": applied,
                        "version": routes.current_version(self.store, route_id), **result}
            changes = doc.get("changes") or []
            new_version = int(doc.get("version", version))
            if changes or new_version != version:
                routes.apply_changes(self.store, route_id, changes, new_version)
            applied += len(changes)
            version = new_version
            if not doc.get("has_more") or not changes:
                break
        return {"route_id": route_id, "reloaded": False, "changes": applied, "version": version}
