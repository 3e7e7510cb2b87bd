"""Schemathesis hooks for tests/integration/test_fuzz.py (SCHEMATHESIS_HOOKS): bodies of the
media types it cannot make by itself — an e-mail (a bounce report) as arbitrary bytes, and
now and then a real delivery status notification."""

import schemathesis
from hypothesis import strategies as st

_REPORT = (
    b"Content-Type: multipart/report; report-type=delivery-status; boundary=B\r\n\r\n"
    b"--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; x\r\n\r\n"
    b"Final-Recipient: rfc822; "
)

schemathesis.openapi.media_type(
    "message/rfc822",
    st.one_of(
        st.binary(max_size=2_000),
        st.builds(lambda tail: _REPORT + tail, st.binary(max_size=500)),
    ),
)
