// Package auth holds the dashboard's individual accounts and everything that
// proves who is asking: argon2id password hashes checked against the CNIL
// password policy, login throttling, optional TOTP, sessions, one-time setup
// links and per-account API tokens (R10). Everything is kept in the store's
// SharedKV space so that every replica sees the same accounts and sessions.
package auth

import (
	"fmt"
	"regexp"
)

// Role is what an account may see and do (R10: roles).
type Role string

const (
	// RoleAdmin manages accounts and reads the audit log.
	RoleAdmin Role = "admin"
	// RoleAnalyst sees aggregate statistics only, never a recipient.
	RoleAnalyst Role = "analyst"
	// RoleDPO serves data-subject requests and reads the audit log.
	RoleDPO Role = "dpo"
)

// Roles lists the roles in the order the UI offers them.
var Roles = []Role{RoleAnalyst, RoleDPO, RoleAdmin}

// ParseRole accepts the names of Roles.
func ParseRole(s string) (Role, error) {
	for _, r := range Roles {
		if string(r) == s {
			return r, nil
		}
	}
	return "", fmt.Errorf("unknown role %q (want analyst, dpo or admin)", s)
}

// Permission is one thing a role may do. Handlers ask for a permission, not a
// role, so the table below is the one place that says who may do what.
type Permission uint8

const (
	// SeeStatistics: aggregate campaign and consent figures.
	SeeStatistics Permission = iota
	// ReadAudit: view and verify the audit log.
	ReadAudit
	// ManageAccounts: create, reset, disable accounts and change roles.
	ManageAccounts
	// ServeDataSubjects: look up, export, erase an address, record objections (R11).
	ServeDataSubjects
	// ChangeConsent: import consents and read one recipient's state (API).
	ChangeConsent
)

var grants = map[Role][]Permission{
	RoleAnalyst: {SeeStatistics},
	RoleDPO:     {SeeStatistics, ReadAudit, ServeDataSubjects, ChangeConsent},
	RoleAdmin:   {SeeStatistics, ReadAudit, ManageAccounts, ChangeConsent},
}

// Can reports whether the role has the permission.
func (r Role) Can(p Permission) bool {
	for _, g := range grants[r] {
		if g == p {
			return true
		}
	}
	return false
}

// nameRE keeps account names short and free of '@', so an email address can
// never become a SharedKV key (SharedKV contract, R8).
var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{1,31}$`)

// ValidName checks an account name.
func ValidName(name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("account name %q: use 2-32 characters a-z, 0-9, '.', '_' or '-', starting with a letter or digit", name)
	}
	return nil
}
