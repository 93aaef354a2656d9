"""Rate-limit use: the loopback server allows R requests/s (sliding 1 s window) and answers 429 above it;
4 `pagemill worker` processes x 8 threads share the limiter (Redis broker -> Redis GCRA) for ~60 s.

    python bench/bench_mistral_ratelimit.py [--seconds 60] [--rate 10] [--share 0.97]

PAGEMILL_RATE_LIMIT is set to R itself, as a user would set the provider's documented limit; the limiter keeps
its own headroom (PAGEMILL_RATE_LIMIT_SHARE, default 0.97; --share overrides it).

Prints achieved requests/s / R (target >= 0.95), the share of 429s (target <= 2%) and pages lost (must be 0).
"""

from __future__ import annotations

import argparse

from _mistral_harness import KEY, MistralServer, Pipeline

from worker.ratelimit.limiter import DEFAULT_RATE_SHARE


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--rate", type=float, default=10.0, help="R, the server's limit (requests/s)")
    ap.add_argument("--share", type=float, default=None, help="PAGEMILL_RATE_LIMIT_SHARE (default: the limiter's)")
    ap.add_argument("--processes", type=int, default=4)
    ap.add_argument("--threads", type=int, default=8)
    args = ap.parse_args()
    n = int(args.rate * args.seconds)
    with MistralServer(api_key=KEY, rate_limit=args.rate, extract_text=False) as server:
        env = {"PAGEMILL_RATE_LIMIT": str(args.rate), "PAGEMILL_MAX_INFLIGHT": str(args.processes * args.threads)}
        if args.share is not None:
            env["PAGEMILL_RATE_LIMIT_SHARE"] = str(args.share)
        pipe = Pipeline(server, args.processes, args.threads, env)
        try:
            pipe.submit_pdf(n, pages_per_task=1)
            stored, done, failed = pipe.wait_done(args.seconds * 3 + 60)
        finally:
            pipe.stop()
        rec = server.received
    ok = sorted(r.at for r in rec if r.status == 200)
    limited = sum(1 for r in rec if r.status == 429)
    span = ok[-1] - ok[0] if len(ok) > 1 else float("nan")
    achieved = (len(ok) - 1) / span
    print(f"requests: {len(rec)} ({len(ok)} ok, {limited} x 429) over {span:.1f} s; limiter set to "
          f"R={args.rate:g}/s, share {args.share or DEFAULT_RATE_SHARE:g}; {args.processes} processes x {args.threads} threads")
    print(f"achieved {achieved:.2f} req/s / R {args.rate:g} = {achieved / args.rate:.3f}")
    print(f"429 share: {limited / len(rec):.2%} (at s: {[round(r.at - ok[0], 1) for r in rec if r.status == 429]})")
    print(f"pages lost: {n - stored} (ranges done {done}, failed {failed})")


if __name__ == "__main__":
    main()
