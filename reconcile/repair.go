package reconcile

import (
	"context"
	"fmt"
	"strings"

	"github.com/dualgate/dualgate/catalog"
)

// RepairReport says what a repair did (or, dry, would do).
type RepairReport struct {
	Rule   string
	Action string   // rebuild, replay or none
	Steps  []string // one line per target
	DryRun bool
	Before Run  // the run that found what to repair
	Verify *Run // the run after the repair (nil when dry or nothing to do)
}

// Repair runs rule name, repairs what it finds with the rule's repair
// action, and runs the rule again to verify; exceptions the verifying run
// matches are resolved as repaired. With dryRun it only reports the steps.
// Canonical is never changed: rebuild re-projects serving keys (or whole
// projections) from canonical; replay re-runs a source's raw log through
// its mappings, which commits only what the mappings now yield.
func (e *Engine) Repair(ctx context.Context, name string, dryRun bool, by string) (RepairReport, error) {
	r, ok := e.byName[name]
	if !ok {
		return RepairReport{}, fmt.Errorf("%w: %q", ErrNoRule, name)
	}
	rep := RepairReport{Rule: name, Action: r.Repair, DryRun: dryRun}
	mu := e.ruleMu[name]
	cmp, p, err := func() (Comparison, pairing, error) {
		mu.Lock()
		defer mu.Unlock()
		return e.compareRule(ctx, r)
	}()
	if err != nil {
		return rep, err
	}
	rep.Before = Run{Rule: name, AsOf: p.asOf, Watermark: p.watermark, Head: p.head, Unit: cmp.Unit,
		Compared: int64(cmp.Compared), Matched: int64(cmp.Matched), Divergent: int64(len(cmp.Diffs)), Pending: int64(cmp.Pending)}
	if len(cmp.Diffs) == 0 {
		rep.Steps = append(rep.Steps, "nothing to repair: the sides agree")
		if dryRun {
			return rep, nil
		}
		// Settle the rule's open exceptions (another repair may have
		// fixed what they were about).
		v, err := e.Run(ctx, name, "repair")
		rep.Verify = &v
		return rep, err
	}
	switch r.Repair {
	case "rebuild":
		err = e.repairRebuild(ctx, r, cmp, dryRun, &rep)
	case "replay":
		err = e.repairReplay(ctx, r, dryRun, by, &rep)
	default:
		rep.Steps = append(rep.Steps, fmt.Sprintf("repair is none: %d differences need a person (see reconcile.exceptions)", len(cmp.Diffs)))
		return rep, nil
	}
	if err != nil || dryRun {
		return rep, err
	}
	v, err := e.Run(ctx, name, "repair")
	rep.Verify = &v
	return rep, err
}

// repairRebuild re-projects the projections the rule reads: only the keys
// that differ when the rule matches on the projection key, else the whole
// projection (a new generation, switched atomically).
func (e *Engine) repairRebuild(ctx context.Context, r *catalog.Reconciliation, cmp Comparison, dryRun bool, rep *RepairReport) error {
	projs := e.projectionsRead(r)
	if len(projs) == 0 || e.mat == nil {
		return fmt.Errorf("%w: rule %s has repair rebuild but reads no projection", ErrBadArgument, r.Name)
	}
	for _, name := range projs {
		p, _ := e.mat.Projection(name)
		if sameSet(p.Key, r.Match) && cmp.Unit != "groups" {
			keys := keysInProjectionOrder(p, r.Match, cmp.Diffs)
			rep.Steps = append(rep.Steps, fmt.Sprintf("re-project %d keys of serving.%s from canonical", len(keys), name))
			if dryRun {
				continue
			}
			if _, err := e.mat.RepairKeys(ctx, name, keys); err != nil {
				return err
			}
			continue
		}
		rep.Steps = append(rep.Steps, fmt.Sprintf("rebuild serving.%s from canonical (new generation, switched atomically)", name))
		if dryRun {
			continue
		}
		if err := e.mat.Rebuild(ctx, name, 0); err != nil {
			return err
		}
	}
	return nil
}

// repairReplay re-runs the raw log of every source the rule reads (raw.*)
// or that maps into an entity it reads (canonical.*).
func (e *Engine) repairReplay(ctx context.Context, r *catalog.Reconciliation, dryRun bool, by string, rep *RepairReport) error {
	if e.replay == nil {
		return fmt.Errorf("%w: replay is not available here", ErrBadArgument)
	}
	var sources []string
	for _, rel := range append(append([]string{}, r.LeftRelations...), r.RightRelations...) {
		if s, ok := strings.CutPrefix(rel, "raw."); ok && !containsFold(sources, s) {
			sources = append(sources, s)
		}
	}
	for _, s := range sources {
		rep.Steps = append(rep.Steps, fmt.Sprintf("replay raw.%s through its mappings", s))
		if dryRun {
			continue
		}
		out, err := e.replay(ctx, s, by)
		if err != nil {
			return fmt.Errorf("replay %s: %w", s, err)
		}
		rep.Steps = append(rep.Steps, out)
	}
	if len(sources) == 0 {
		rep.Steps = append(rep.Steps, "no raw source is read by the rule: nothing to replay")
	}
	return nil
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		if !containsFold(b, x) {
			return false
		}
	}
	return true
}

// keysInProjectionOrder returns the differing keys' values ordered as the
// projection key.
func keysInProjectionOrder(p *catalog.Projection, match []string, diffs []Difference) [][]any {
	pos := make([]int, len(p.Key))
	for i, k := range p.Key {
		for j, m := range match {
			if strings.EqualFold(k, m) {
				pos[i] = j
			}
		}
	}
	seen := map[string]bool{}
	var out [][]any
	for _, d := range diffs {
		if d.keyVals == nil || seen[d.Key] {
			continue
		}
		seen[d.Key] = true
		k := make([]any, len(pos))
		for i, j := range pos {
			k[i] = d.keyVals[j]
		}
		out = append(out, k)
	}
	return out
}
