"""In-memory loopback Hugging Face Hub for the tests: enough of the Hub HTTP API for huggingface_hub uploads
(regular and LFS "basic" transfer; clients run with HF_HUB_DISABLE_XET=1) and downloads, so that
push_to_hub / from_pretrained("org/name") / snapshot_download run their real code paths offline.
Endpoints: repos/create, whoami-v2, validate-yaml (a subset of the Hub's card rules: `card_problem`), repo info,
tree, preupload, commit, paths-info, refs, commits,
LFS batch + upload, resolve. Every request is logged in `FakeHub.log`. Adapted from
shared/reference/fake_hub_server_sketch.py.
"""

import base64
import hashlib
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlparse


def _git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def card_problem(content: str, repo_type: str) -> str | None:
    """What the Hub's card validation would reject in a card's YAML metadata (a subset of its rules: YAML mapping,
    list-of-string fields, a parseable model-index, and dataset `configs`/`dataset_info`), or None."""
    from huggingface_hub import RepoCard
    from huggingface_hub.repocard_data import model_index_to_eval_results

    try:
        metadata = RepoCard(content, ignore_metadata_errors=False).data.to_dict()
    except Exception as error:
        return f"invalid metadata: {error}"
    for key in ("tags", "datasets", "language"):
        value = metadata.get(key)
        if value is not None and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            return f'"{key}" must be a list of strings, got {value!r}'
    for key in ("license", "library_name", "pipeline_tag"):
        if key in metadata and not isinstance(metadata[key], str):
            return f'"{key}" must be a string, got {metadata[key]!r}'
    if repo_type == "model" and "model-index" in metadata:
        try:
            model_index_to_eval_results(metadata["model-index"])
        except Exception as error:
            return f'"model-index" is invalid: {error!r}'
    if repo_type == "dataset":
        for config in metadata.get("configs", []):
            if not isinstance(config, dict) or "config_name" not in config or "data_files" not in config:
                return f'"configs" entries need config_name and data_files, got {config!r}'
        info = metadata.get("dataset_info", {})
        for split in info.get("splits", []) if isinstance(info, dict) else [None]:
            if not isinstance(split, dict) or not all(
                isinstance(split.get(k), int) for k in ("num_examples", "num_bytes")
            ):
                return f'"dataset_info.splits" entries need a name, num_examples and num_bytes, got {split!r}'
    return None


class Repo:
    def __init__(self):
        self.commits = {}  # sha -> {path: bytes}
        self.history = []  # list of (sha, title)
        self.head = None
        self._commit({}, "initial commit")

    def _commit(self, files, title):
        sha = hashlib.sha1(f"{time.time_ns()}{len(self.history)}{title}".encode()).hexdigest()
        self.commits[sha] = files
        self.history.append((sha, title))
        self.head = sha
        return sha

    def snapshot(self, rev):
        if rev in (None, "main", "refs/heads/main"):
            return self.head, self.commits[self.head]
        if rev in self.commits:
            return rev, self.commits[rev]
        matches = [s for s in self.commits if s.startswith(rev)] if len(rev) >= 7 else []
        if len(matches) == 1:
            return matches[0], self.commits[matches[0]]
        return None, None


class FakeHub:
    def __init__(self, host="127.0.0.1", port=0):
        self.repos = {}  # (repo_type, repo_id) -> Repo
        self.lfs = {}  # sha256 hex -> bytes (uploaded through the LFS "basic" transfer)
        self.lfs_threshold = 10_000  # files >= this size (or *.parquet / *.safetensors) go through LFS
        self.log = []
        self.commit_hooks = []  # called as hook(repo_type, repo_id, files) after each commit is stored
        self.lock = threading.Lock()
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                hub._dispatch(self, "GET")

            def do_HEAD(self):
                hub._dispatch(self, "HEAD")

            def do_POST(self):
                hub._dispatch(self, "POST")

            def do_DELETE(self):
                hub._dispatch(self, "DELETE")

            def do_PUT(self):
                hub._dispatch(self, "PUT")

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.endpoint = f"http://{host}:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    # ---------------- helpers ----------------
    def _send(self, h, code, body=b"", headers=None, method="GET"):
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            headers = {"Content-Type": "application/json", **(headers or {})}
        h.send_response(code)
        for k, v in (headers or {}).items():
            h.send_header(k, str(v))
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        if method != "HEAD":
            h.wfile.write(body)

    def _err(self, h, code, msg, error_code=None, method="GET"):
        hdr = {"X-Error-Message": msg}
        if error_code:
            hdr["X-Error-Code"] = error_code
        self._send(h, code, {"error": msg}, hdr, method)

    def _read_body(self, h):
        n = int(h.headers.get("Content-Length") or 0)
        if n:
            return h.rfile.read(n)
        if h.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = b""
            while True:
                size = int(h.rfile.readline().strip(), 16)
                if size == 0:
                    h.rfile.readline()
                    return out
                out += h.rfile.read(size)
                h.rfile.readline()
        return b""

    def _repo(self, rtype, rid):
        return self.repos.get((rtype, rid))

    def _entries(self, files, prefix, recursive):
        prefix = prefix.strip("/")
        out, dirs = [], set()
        for p, data in sorted(files.items()):
            if prefix and not p.startswith(prefix + "/"):
                continue
            rest = p[len(prefix) + 1 :] if prefix else p
            parts = rest.split("/")
            base = (prefix + "/") if prefix else ""
            # directories along the way
            for i in range(1, len(parts)):
                d = base + "/".join(parts[:i])
                if d not in dirs and (recursive or i == 1):
                    dirs.add(d)
                    out.append({"type": "directory", "oid": hashlib.sha1(d.encode()).hexdigest(), "size": 0, "path": d})
            if recursive or len(parts) == 1:
                out.append({"type": "file", "oid": _git_blob_sha1(data), "size": len(data), "path": p})
        return out

    def _info(self, rtype, rid, repo, rev):
        sha, files = repo.snapshot(rev)
        return {
            "id": rid,
            "_id": rid,
            "modelId": rid,
            "author": rid.split("/")[0],
            "sha": sha,
            "private": False,
            "disabled": False,
            "gated": False,
            "downloads": 0,
            "likes": 0,
            "tags": [],
            "lastModified": "2026-01-01T00:00:00.000Z",
            "createdAt": "2026-01-01T00:00:00.000Z",
            "siblings": [
                {"rfilename": p, "size": len(d), "blobId": _git_blob_sha1(d)} for p, d in sorted(files.items())
            ],
        }

    # ---------------- routing ----------------
    def _dispatch(self, h, method):
        url = urlparse(h.path)
        path, qs = unquote(url.path), parse_qs(url.query)
        with self.lock:
            self.log.append((method, path))
        try:
            self._route(h, method, path, qs)
        except Exception as e:  # pragma: no cover - debugging aid
            self._err(h, 500, f"fakehub error: {e!r}", method=method)

    def _route(self, h, method, path, qs):
        T = r"(?P<t>model|dataset|space)s"
        R = r"(?P<rid>[^/]+/[^/]+)"
        if path == "/api/whoami-v2":
            return self._send(
                h,
                200,
                {
                    "type": "user",
                    "name": "tester",
                    "fullname": "Tester",
                    "orgs": [{"name": "org", "type": "org"}],
                    "auth": {"type": "access_token", "accessToken": {"role": "write"}},
                },
                method=method,
            )
        if path == "/api/validate-yaml" and method == "POST":
            body = json.loads(self._read_body(h) or b"{}")
            problem = card_problem(body.get("content", ""), body.get("repoType") or "model")
            if problem:
                return self._send(h, 400, problem.encode(), {"Content-Type": "text/plain"}, method=method)
            return self._send(h, 200, {}, method=method)
        if path == "/api/repos/create" and method == "POST":
            body = json.loads(self._read_body(h) or b"{}")
            rtype = body.get("type") or "model"
            rid = f"{body.get('organization') or 'tester'}/{body['name']}" if "/" not in body["name"] else body["name"]
            prefix = "" if rtype == "model" else f"{rtype}s/"
            key = (rtype, rid)
            url = f"{self.endpoint}/{prefix}{rid}"
            if key in self.repos:  # the real Hub also returns the url with 409; create_repo(exist_ok=True) reads it
                return self._send(h, 409, {"error": "You already created this repo", "url": url}, method=method)
            self.repos[key] = Repo()
            return self._send(h, 200, {"url": f"{self.endpoint}/{prefix}{rid}", "name": rid, "id": rid}, method=method)
        if path == "/api/repos/delete" and method == "DELETE":
            body = json.loads(self._read_body(h) or b"{}")
            rid = f"{body.get('organization') or 'tester'}/{body['name']}" if "/" not in body["name"] else body["name"]
            self.repos.pop((body.get("type") or "model", rid), None)
            return self._send(h, 200, {}, method=method)

        m = re.fullmatch(rf"/api/{T}/{R}(?:/revision/(?P<rev>.+))?", path)
        if m and method == "GET":
            repo = self._repo(m["t"], m["rid"])
            if repo is None:
                return self._err(h, 404, "Repository not found", "RepoNotFound", method)
            if repo.snapshot(m["rev"])[0] is None:
                return self._err(h, 404, "Invalid rev id", "RevisionNotFound", method)
            return self._send(h, 200, self._info(m["t"], m["rid"], repo, m["rev"]), method=method)

        m = re.fullmatch(rf"/api/{T}/{R}/(?P<op>preupload|commit|paths-info|tree|refs|commits)(?:/(?P<rest>.*))?", path)
        if m:
            repo = self._repo(m["t"], m["rid"])
            if repo is None:
                return self._err(h, 404, "Repository not found", "RepoNotFound", method)
            op, rest = m["op"], m["rest"] or ""
            if op == "preupload":
                body = json.loads(self._read_body(h))

                def mode(f):
                    big = f["size"] >= self.lfs_threshold or f["path"].endswith((".parquet", ".safetensors", ".arrow"))
                    return "lfs" if big and f["size"] > 0 else "regular"

                return self._send(
                    h,
                    200,
                    {
                        "files": [
                            {"path": f["path"], "uploadMode": mode(f), "shouldIgnore": False} for f in body["files"]
                        ]
                    },
                    method=method,
                )
            if op == "commit":
                raw = self._read_body(h)
                _, files = repo.snapshot(None)
                files = dict(files)
                title = ""
                for line in raw.splitlines():
                    if not line.strip():
                        continue
                    item = json.loads(line)
                    k, v = item["key"], item["value"]
                    if k == "header":
                        title = v.get("summary", "")
                    elif k == "file":
                        files[v["path"]] = base64.b64decode(v["content"])
                    elif k == "lfsFile":
                        if v["oid"] not in self.lfs:
                            return self._err(h, 400, f"LFS object {v['oid']} was never uploaded", method=method)
                        files[v["path"]] = self.lfs[v["oid"]]
                    elif k == "deletedFile":
                        files.pop(v["path"], None)
                    elif k == "deletedFolder":
                        for p in [p for p in files if p.startswith(v["path"].rstrip("/") + "/")]:
                            files.pop(p)
                    else:
                        return self._err(h, 400, f"unsupported commit op {k} (only regular uploads)", method=method)
                sha = repo._commit(files, title)
                for hook in list(self.commit_hooks):
                    hook(m["t"], m["rid"], files)
                prefix = "" if m["t"] == "model" else f"{m['t']}s/"
                return self._send(
                    h,
                    200,
                    {
                        "commitUrl": f"{self.endpoint}/{prefix}{m['rid']}/commit/{sha}",
                        "commitOid": sha,
                        "pullRequestUrl": None,
                    },
                    method=method,
                )
            if op == "refs":
                return self._send(
                    h,
                    200,
                    {
                        "branches": [{"name": "main", "ref": "refs/heads/main", "targetCommit": repo.head}],
                        "tags": [],
                        "converts": [],
                    },
                    method=method,
                )
            if op == "commits":
                return self._send(
                    h,
                    200,
                    [
                        {"id": s, "title": t, "message": "", "authors": [], "date": "2026-01-01T00:00:00.000Z"}
                        for s, t in reversed(repo.history)
                    ],
                    method=method,
                )
            rev, _, sub = rest.partition("/")
            sha, files = repo.snapshot(rev)
            if sha is None:
                return self._err(h, 404, "Invalid rev id", "RevisionNotFound", method)
            if op == "tree":
                recursive = qs.get("recursive", ["false"])[0].lower() in ("1", "true")
                entries = self._entries(files, sub, recursive)
                if sub and not entries:
                    return self._err(h, 404, "Entry not found", "EntryNotFound", method)
                return self._send(h, 200, entries, method=method)
            if op == "paths-info":
                body = self._read_body(h)
                ctype = h.headers.get("Content-Type", "")
                if "json" in ctype:
                    paths = json.loads(body).get("paths", [])
                else:
                    paths = parse_qs(body.decode()).get("paths", [])
                all_entries = {e["path"]: e for e in self._entries(files, "", True)}
                return self._send(
                    h, 200, [all_entries[p.strip("/")] for p in paths if p.strip("/") in all_entries], method=method
                )

        m = re.fullmatch(r"/(?:(?P<t>datasets|spaces)/)?(?P<rid>[^/]+/[^/]+)\.git/info/lfs/objects/batch", path)
        if m and method == "POST":
            body = json.loads(self._read_body(h))
            objs = []
            for o in body["objects"]:
                act = {} if o["oid"] in self.lfs else {"upload": {"href": f"{self.endpoint}/lfs-upload/{o['oid']}"}}
                objs.append(
                    {"oid": o["oid"], "size": o["size"], "authenticated": True, "actions": act}
                    if act
                    else {"oid": o["oid"], "size": o["size"]}
                )
            return self._send(h, 200, {"transfer": "basic", "objects": objs}, method=method)
        m = re.fullmatch(r"/lfs-upload/(?P<oid>[0-9a-f]{64})", path)
        if m and method == "PUT":
            data = self._read_body(h)
            if hashlib.sha256(data).hexdigest() != m["oid"]:
                return self._err(h, 400, "sha256 mismatch", method=method)
            self.lfs[m["oid"]] = data
            return self._send(h, 200, b"", method=method)
        m = re.fullmatch(r"/(?:(?P<t>datasets|spaces)/)?(?P<rid>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<fp>.+)", path)
        if m and method in ("GET", "HEAD"):
            rtype = {"datasets": "dataset", "spaces": "space"}.get(m["t"], "model")
            repo = self._repo(rtype, m["rid"])
            if repo is None:
                return self._err(h, 404, "Repository not found", "RepoNotFound", method)
            sha, files = repo.snapshot(m["rev"])
            if sha is None:
                return self._err(h, 404, "Invalid rev id", "RevisionNotFound", method)
            data = files.get(m["fp"])
            if data is None:
                return self._err(h, 404, "Entry not found", "EntryNotFound", method)
            return self._send(
                h,
                200,
                data,
                {"X-Repo-Commit": sha, "ETag": f'"{_git_blob_sha1(data)}"', "Content-Type": "application/octet-stream"},
                method,
            )
        return self._err(h, 404, f"fakehub: no route for {method} {path}", method=method)
