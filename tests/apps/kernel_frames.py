"""Reading the frames of an app page's kernel WebSocket in browser tests."""

from __future__ import annotations

import json
import struct

# what Voilà 0.5.13 lets through to an app's kernel (voila/app.py, allowed_message_types)
VOILA_ALLOWED = {"comm_open", "comm_close", "comm_msg", "comm_info_request", "kernel_info_request",
                 "shutdown_request"}


def kernel_message(frame: bytes | str) -> tuple[str, dict, dict, dict]:
    """Channel, header, parent header and content of a frame of the kernel WebSocket protocol
    v1.kernel.websocket.jupyter.org: a count n, n offsets (uint64 little-endian), then the parts."""
    assert isinstance(frame, bytes), "the kernel protocol sends binary frames only"
    count = struct.unpack_from("<Q", frame)[0]
    offsets = [*struct.unpack_from(f"<{count}Q", frame, 8), len(frame)]
    parts = [frame[offsets[i]:offsets[i + 1]] for i in range(count)]
    return parts[0].decode(), json.loads(parts[1]), json.loads(parts[2]), json.loads(parts[4])
