"""What operators see: health, the overview behind relay status and the status page, metrics, an event's story, logs."""
