package main

import (
	"errors"
)

// errShutdownTimeout is why a step of a stop was cut short.
var errShutdownTimeout = errors.New("shutdown timeout (POSTPIPE_SHUTDOWN_TIMEOUT) reached")
