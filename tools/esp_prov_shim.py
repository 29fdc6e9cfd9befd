"""Run Espressif's esp_prov, unchanged, from the PyPI package esp-rainmaker-cli.

esp_prov's only copy on a package registry (esp-rainmaker-cli 1.10 to 1.14.1, module
rmaker_tools.rmaker_local_ctrl.esp_prov) has two known client defects (provlab spec BLE-TESTBED item 12):

1. Transport_HTTP.send_data is a plain function that esp_prov awaits, so every SoftAP run dies with a
   TypeError. Wrapped here in a coroutine that calls the original.
2. About 1 in 256 Security 2 sessions send a 383-byte SRP A (no left padding), which a real ESP32 rejects.
   Upstream fixed it in 2026 by re-drawing; so does this shim (set PROVLAB_KEEP_SHORT_A=1 to keep the bug).

Nothing else is touched: the protocol code that runs is esp_prov's own. Arguments are esp_prov's.
"""

import asyncio
import os
import sys

from rmaker_tools.common.transport import transport_http

_send = transport_http.Transport_HTTP.send_data


async def _send_data(self, ep_name, data):
    return _send(self, ep_name, data)


transport_http.Transport_HTTP.send_data = _send_data

if os.environ.get("PROVLAB_KEEP_SHORT_A") != "1":
    from rmaker_tools.common.security import srp6a

    _init = srp6a.Srp6a.__init__

    def _init_full_length_a(self, *args, **kwargs):
        while True:
            _init(self, *args, **kwargs)
            if self.A.bit_length() > 3064:  # 383 bytes and a bit: serialises to 384 bytes
                return

    srp6a.Srp6a.__init__ = _init_full_length_a

from rmaker_tools.rmaker_local_ctrl import esp_prov  # noqa: E402

if __name__ == "__main__":
    sys.argv[0] = "esp_prov"
    asyncio.run(esp_prov.main())
