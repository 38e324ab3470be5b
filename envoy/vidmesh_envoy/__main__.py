"""`python -m vidmesh_envoy cdn --origin HOST:PORT --out DIR`: writes the CDN tiers' configs.

The origin is a running vidmesh gateway (`vidmesh up`). Start each tier with
`envoy -c DIR/<tier>.yaml --base-id <unique number>`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .binary import validate
from .topologies import cdn, render


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m vidmesh_envoy")
    commands = parser.add_subparsers(dest="topology", required=True)
    tiers = commands.add_parser("cdn", help="edge and regional cache tiers in front of a vidmesh gateway")
    tiers.add_argument("--origin", default="127.0.0.1:8080", help="the gateway, HOST:PORT (default 127.0.0.1:8080)")
    tiers.add_argument("--host", default="127.0.0.1", help="address the tiers listen on")
    tiers.add_argument("--edge-port", type=int, default=8180)
    tiers.add_argument("--regional-port", type=int, default=8280)
    tiers.add_argument("--out", type=Path, required=True, help="folder for <tier>.yaml and the tiers' caches")
    args = parser.parse_args()
    origin_host, _, origin_port = args.origin.rpartition(":")
    configs = cdn(
        host=args.host,
        origin=(origin_host, int(origin_port)),
        edge_port=args.edge_port,
        edge_admin_port=args.edge_port + 1,
        regional_port=args.regional_port,
        regional_admin_port=args.regional_port + 1,
        cache_root=args.out.resolve() / "cache",
    )
    for name, config in configs.items():
        (args.out / "cache" / name).mkdir(parents=True, exist_ok=True)
        path = args.out / f"{name}.yaml"
        path.write_text(render(config))
        checked = validate(path)
        if checked.returncode != 0:
            raise SystemExit(f"{path}: envoy rejected it:\n{checked.stdout}{checked.stderr}")
        print(path)


if __name__ == "__main__":
    main()
