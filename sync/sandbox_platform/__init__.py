"""A sandbox payment platform (docs/channels.md §Sandbox platform): a separate process that
plays Alipay/WeChat Pay/a bank against the gateway's biller interface the way real ones do —
it signs every request, queries bills, notifies payments and refunds and retries a failed
notification with back-off, and sends its daily statement file.

    python -m sync.sandbox_platform --gateway http://127.0.0.1:8000 --platform sandpay \\
        --supervisor 9001:99999999          # registers its public key with the gateway
"""
