"""Signed webhooks: the events the outbox holds (models/outbox.py) delivered to their subscriptions.

- `settings.py`: PAGEMILL_WEBHOOK_... settings (the deployment's subscription, retry time, time-outs, private targets).
- `sign.py`: secrets (`whsec_...`) and the Standard Webhooks headers, through the `standardwebhooks` package.
- `target.py`: safe targets: http(s) only, the host resolved once, private addresses refused unless allowed.
- `sender.py`: the `Sender` interface and the HTTP sender (no redirects, time-outs, a response read up to a limit).
- `subscriptions.py`: add, list, remove, rotate secrets; the settings' subscription kept in step.
- `prune.py`: events past PAGEMILL_WEBHOOK_KEEP_S whose deliveries are over, deleted.
- `deliver.py`: events fanned out to deliveries, sent at least once in order per subject, retried with backoff;
  `Deliverer`, the thread the scheduler and embedded runs start.
"""
