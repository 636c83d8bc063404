"""kombu's filesystem transport (the Celery broker of the test stack), made safe to read.

kombu writes a message file in place, under its final name, and a reader that moves the file
away meanwhile reads it empty or half-written: girder_worker's success handler then fails with
a ``JSONDecodeError`` (asking the workers which tasks were revoked) and the job stays *Running*.
:func:`write_messages_atomically` writes each message under a name no reader takes, then renames
it into place. Used by the test Girder (tests/girder/server.py) and girder_worker's worker
(tests/ui/worker.py): every process that sends on the folder broker.
"""

from __future__ import annotations

import os
import uuid
from time import monotonic


def write_messages_atomically() -> None:
    from kombu.transport import filesystem
    from kombu.utils.encoding import str_to_bytes
    from kombu.utils.json import dumps

    def _put(self, queue, payload, **kwargs):
        name = '%d_%s.%s.msg' % (int(round(monotonic() * 1000)), uuid.uuid4(), queue)
        final = os.path.join(self.data_folder_out, name)
        partial = os.path.join(self.data_folder_out, '.%s.part' % name)  # skipped by readers
        try:
            with open(partial, 'wb') as handle:
                handle.write(str_to_bytes(dumps(payload)))
            os.rename(partial, final)
        except OSError as exc:
            raise filesystem.ChannelError('Cannot add file %r to directory' % final) from exc

    filesystem.Channel._put = _put
