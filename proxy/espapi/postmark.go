package espapi

import "net/http"

func (s *Server) postmarkEmail(w http.ResponseWriter, c *call) error    { return errNotYet }
func (s *Server) postmarkBatch(w http.ResponseWriter, c *call) error    { return errNotYet }
func (s *Server) postmarkTemplate(w http.ResponseWriter, c *call) error { return errNotYet }
