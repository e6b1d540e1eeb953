package espapi

import "net/http"

func (s *Server) mailgunForm(w http.ResponseWriter, c *call) error { return errNotYet }
func (s *Server) mailgunMIME(w http.ResponseWriter, c *call) error { return errNotYet }

var errNotYet = &apiError{status: http.StatusNotImplemented, msg: "pixelgate: not implemented yet", reason: "not-implemented"}
