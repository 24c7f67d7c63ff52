"""Cloudflare's workerd runtime as a local target: an isolate-based platform beside the sandbox.

- `install`: `ensure_workerd(dest)` installs the pinned `workerd` npm package (needs Node.js).
- `config`: the Cap'n Proto config for one worker script and the on-demand isolate front.
- `process`: `WorkerdProcess`, the child process (sync or async context manager).
- `suite_hook`: starting workerd for a suite run (`[workerd]` table, `${workerd}` URLs).
"""
