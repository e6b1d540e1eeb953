// Package pixel is pixelgate's recipient-facing HTTP side: the open pixel
// (GET /o/{token}.gif, pixel.go), the click redirect (GET /l/{token},
// link.go), the server-side forwarding of a consenting recipient's open to
// the ESP's own pixel (forward.go, SSRF-guarded by forward_guard.go), the
// verdict on machine opens by mail privacy proxies and scanners
// (machine.go over the versioned machine_list.txt), and the record queue
// (pixel_record.go) that answers every hit before the store is called, so
// the answer's timing does not tell whether consent was withdrawn (R3).
//
// It decrypts the token, answers, and hands one Store call (RecordOpen,
// RecordClick) to the queue; consent is checked inside that call,
// atomically with the write (R3). Nothing of the request is stored but
// what R8 allows (key, campaign, time, machine verdict). The package
// depends on consent alone: it knows nothing of SMTP.
package pixel
