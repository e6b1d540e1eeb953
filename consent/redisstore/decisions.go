package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/pixelgate/pixelgate/consent"
)

// storedEvent is an evidence event as kept in a history list. consent.Event
// leaves State out of its JSON, so the stored form names every field.
type storedEvent struct {
	ID            uuid.UUID      `json:"id"`
	At            time.Time      `json:"at"`
	State         consent.State  `json:"state"`
	Source        consent.Source `json:"source"`
	PolicyVersion string         `json:"policy_version,omitempty"`
	TextHash      string         `json:"text_hash,omitempty"`
	Actor         string         `json:"actor,omitempty"`
	EvidenceAt    time.Time      `json:"evidence_at,omitzero"`
}

func (e storedEvent) event() consent.Event {
	return consent.Event{ID: e.ID, At: e.At, State: e.State, Evidence: consent.Evidence{
		Source: e.Source, PolicyVersion: e.PolicyVersion, TextHash: e.TextHash, Actor: e.Actor, At: e.EvidenceAt,
	}}
}

// stateValue is the stored current state: "<digit>|<since ns>[|e]".
type stateValue struct {
	state     consent.State
	since     time.Time
	tombstone bool
}

func (v stateValue) String() string {
	s := strconv.Itoa(int(v.state)) + "|" + strconv.FormatInt(v.since.UnixNano(), 10)
	if v.tombstone {
		s += "|e"
	}
	return s
}

func parseState(s string) (stateValue, error) {
	parts := strings.Split(s, "|")
	if len(parts) < 2 || len(parts) > 3 || (len(parts) == 3 && parts[2] != "e") {
		return stateValue{}, fmt.Errorf("stored consent state %q is malformed", s)
	}
	st, err := strconv.Atoi(parts[0])
	if err != nil || st < int(consent.Granted) || st > int(consent.Withdrawn) {
		return stateValue{}, fmt.Errorf("stored consent state %q is malformed", s)
	}
	ns, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil {
		return stateValue{}, fmt.Errorf("stored consent state %q is malformed", s)
	}
	return stateValue{state: consent.State(st), since: timeFromNS(ns), tombstone: len(parts) == 3}, nil
}

// getState reads a key's state; a missing key is the zero value (None).
func getState(cmd *redis.StringCmd) (stateValue, error) {
	v, err := cmd.Result()
	if errors.Is(err, redis.Nil) {
		return stateValue{}, nil
	}
	if err != nil {
		return stateValue{}, wrapErr(err)
	}
	return parseState(v)
}

// Lookup reads the states of keys in one round trip (pipelined GETs, which
// go-redis splits per node on Cluster).
func (s *Store) Lookup(ctx context.Context, keys []consent.Key) ([]consent.Status, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("look up consent: %w", wrapErr(err))
	}
	out := make([]consent.Status, len(keys))
	if len(keys) == 1 {
		v, err := getState(s.hot.Get(ctx, recipient(keys[0]).state()))
		if err != nil {
			return nil, fmt.Errorf("look up consent: %w", err)
		}
		out[0] = consent.Status{State: v.state, Since: v.since}
		return out, nil
	}
	cmds := make([]*redis.StringCmd, len(keys))
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range keys {
			cmds[i] = p.Get(ctx, recipient(k).state())
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("look up consent of %d keys: %w", len(keys), wrapErr(err))
	}
	for i, c := range cmds {
		v, err := getState(c)
		if err != nil {
			return nil, fmt.Errorf("look up consent of key %d: %w", i, err)
		}
		out[i] = consent.Status{State: v.state, Since: v.since}
	}
	return out, nil
}

func (s *Store) Grant(ctx context.Context, k consent.Key, ev consent.Evidence) (consent.Event, error) {
	return s.decide(ctx, k, consent.Granted, ev)
}

func (s *Store) Refuse(ctx context.Context, k consent.Key, ev consent.Evidence) (consent.Event, error) {
	return s.decide(ctx, k, consent.Refused, ev)
}

func (s *Store) Withdraw(ctx context.Context, k consent.Key, ev consent.Evidence) (consent.Event, error) {
	return s.decide(ctx, k, consent.Withdrawn, ev)
}

// newEvent builds the evidence event of a decision made now (or at ev.At
// for imports).
func (s *Store) newEvent(st consent.State, ev consent.Evidence) (storedEvent, error) {
	if ev.Source == "" {
		return storedEvent{}, invalid("evidence has no source")
	}
	at := s.now()
	if !ev.At.IsZero() {
		ev.At = ev.At.UTC()
		at = ev.At
	}
	id, err := consent.NewEventID(at, s.o.Rand)
	if err != nil {
		return storedEvent{}, err
	}
	return storedEvent{ID: id, At: at, State: st, Source: ev.Source, PolicyVersion: ev.PolicyVersion,
		TextHash: ev.TextHash, Actor: ev.Actor, EvidenceAt: ev.At}, nil
}

func (s *Store) decide(ctx context.Context, k consent.Key, st consent.State, ev consent.Evidence) (consent.Event, error) {
	what := "record consent " + st.String()
	e, err := s.newEvent(st, ev)
	if err != nil {
		return consent.Event{}, fmt.Errorf("%s: %w", what, err)
	}
	body, err := json.Marshal(e)
	if err != nil {
		return consent.Event{}, fmt.Errorf("%s: %w", what, err)
	}
	now := s.now()
	var exp int64 // consent that lasts is kept while it lasts (R9)
	if st != consent.Granted {
		exp = ms(e.At.Add(s.o.Retention.Evidence))
	}
	r := recipient(k)
	was, err := luaDecide.Run(ctx, s.rdb,
		[]string{r.state(), r.history(), r.expiry()},
		stateValue{state: st, since: e.At}.String(), string(body), ms(now), exp, grace()).Int()
	if err != nil {
		return consent.Event{}, fmt.Errorf("%s: %w", what, wrapErr(err))
	}
	if err := s.afterDecision(ctx, r.prefix, consent.State(was), st, e, exp); err != nil {
		return consent.Event{}, fmt.Errorf("%s: %w", what, err)
	}
	return e.event(), nil
}

// afterDecision updates the statistics and the global expiry index. They
// live on other slots than the recipient, so this is a second step; every
// update is an increment, so concurrent decisions still add up.
func (s *Store) afterDecision(ctx context.Context, prefix string, was, st consent.State, e storedEvent, exp int64) error {
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		if was != consent.None {
			p.HIncrBy(ctx, keyCurrent, stateField(was), -1)
		}
		p.HIncrBy(ctx, keyCurrent, stateField(st), 1)
		p.HIncrBy(ctx, consentDay(consent.Day(e.At)), string(e.Source)+"|"+stateField(st), 1)
		if exp != 0 {
			p.ZAddLT(ctx, keyExpiryTags, redis.Z{Score: float64(exp), Member: prefix})
		}
		return nil
	})
	return wrapErr(err)
}

func stateField(st consent.State) string { return strconv.Itoa(int(st)) }

func grace() int64 { return expiryGrace.Milliseconds() }

// History returns the evidence trail, oldest first.
func (s *Store) History(ctx context.Context, k consent.Key) ([]consent.Event, error) {
	raw, err := s.rdb.LRange(ctx, recipient(k).history(), 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("read consent history: %w", wrapErr(err))
	}
	return decodeHistory(raw)
}

func decodeHistory(raw []string) ([]consent.Event, error) {
	out := make([]consent.Event, 0, len(raw))
	for i, r := range raw {
		var e storedEvent
		if err := json.Unmarshal([]byte(r), &e); err != nil {
			return nil, fmt.Errorf("decode consent history entry %d: %w", i, err)
		}
		out = append(out, e.event())
	}
	// In the order decided: an import carries an older time but came later.
	return out, nil
}

// EligibleToAsk: never once granted, withdrawn or erased (the footer link
// is theirs to use); not within the quiet period after a refusal or an
// unanswered request (R5).
func (s *Store) EligibleToAsk(ctx context.Context, k consent.Key) (bool, error) {
	r := recipient(k)
	var stCmd, askedCmd *redis.StringCmd
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		stCmd = p.Get(ctx, r.state())
		askedCmd = p.Get(ctx, r.asked())
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return false, fmt.Errorf("check consent request: %w", wrapErr(err))
	}
	st, err := getState(stCmd)
	if err != nil {
		return false, fmt.Errorf("check consent request: %w", err)
	}
	now := s.now()
	quiet := s.o.Retention.AskQuiet
	switch {
	case st.state == consent.Granted, st.state == consent.Withdrawn:
		return false, nil
	case st.state != consent.None && now.Before(st.since.Add(quiet)):
		return false, nil
	}
	asked, err := askedCmd.Int64()
	switch {
	case errors.Is(err, redis.Nil):
		return true, nil
	case err != nil:
		return false, fmt.Errorf("check consent request: %w", wrapErr(err))
	}
	return !now.Before(fromMS(asked).Add(quiet)), nil
}

// MarkAsked starts the R5 quiet period of an unanswered request.
func (s *Store) MarkAsked(ctx context.Context, k consent.Key) error {
	now := s.now()
	exp := ms(now.Add(s.o.Retention.AskQuiet))
	r := recipient(k)
	if err := luaMarkAsked.Run(ctx, s.rdb, []string{r.asked(), r.expiry()}, ms(now), exp, grace()).Err(); err != nil {
		return fmt.Errorf("mark consent requested: %w", wrapErr(err))
	}
	if err := s.indexExpiry(ctx, r.prefix, exp); err != nil {
		return fmt.Errorf("mark consent requested: %w", err)
	}
	return nil
}

// indexExpiry lists a tag in the global expiry index no later than exp.
func (s *Store) indexExpiry(ctx context.Context, prefix string, exp int64) error {
	return wrapErr(s.rdb.ZAddLT(ctx, keyExpiryTags, redis.Z{Score: float64(exp), Member: prefix}).Err())
}
