package natsq

import "errors"

// ErrUnavailable is wrapped when the NATS server cannot be reached (not
// connected, or JetStream did not answer).
var ErrUnavailable = errors.New("natsq: NATS unavailable")

// ErrPoison is wrapped by a job handler's error when the job can never
// succeed (a malformed key, say): it goes to the dead letters at once
// instead of being redelivered.
var ErrPoison = errors.New("natsq: poison message")
