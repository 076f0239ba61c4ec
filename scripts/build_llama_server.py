"""`python scripts/build_llama_server.py [--jobs N]`: build llama.cpp's llama-server for uv.lock.

A thin entry point for `make setup`; the logic lives in medinstruct_core.llm.build_server
(the doctor and the embedded server import its paths). Skips the build when the binary
for this lock is already in ~/.cache/medinstruct/llama-server and answers --version.
"""

import sys

from medinstruct_core.llm.build_server import main

if __name__ == "__main__":
    sys.exit(main())
