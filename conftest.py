"""Root pytest configuration: the test suite runs the offline world at the small scale.

Set here, before any notebook kernel starts, so that nbval's kernels inherit them. Export
either variable yourself to run the suite another way (e.g. RERANK_LAB_OFFLINE=0 online).
"""

import os

os.environ.setdefault("RERANK_LAB_OFFLINE", "1")
os.environ.setdefault("RERANK_LAB_SCALE", "small")
