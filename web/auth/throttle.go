package auth

import "github.com/pixelgate/pixelgate/consent/throttle"

// ThrottleConfig shapes login throttling (R10); see throttle.Config. The
// relay's SMTP AUTH is throttled by the same code.
type ThrottleConfig = throttle.Config

// ThrottledError says how long to wait before the next login attempt. The
// password of a throttled attempt is not checked.
type ThrottledError = throttle.Error
