"""python -m sandbox.emulators.gcp [--host H] [--port N]: run the GCP emulator in the foreground."""

import argparse

from .server import serve_forever

parser = argparse.ArgumentParser(prog="python -m sandbox.emulators.gcp", description=__doc__)
parser.add_argument("--host", default="127.0.0.1")
parser.add_argument("--port", type=int, default=8085)
parser.add_argument("--polls-before-done", type=int, default=1)
args = parser.parse_args()
serve_forever(args.host, args.port, polls_before_done=args.polls_before_done)
