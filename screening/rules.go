package screening

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/vm"
	"go.yaml.in/yaml/v3"
)

// DefaultRulesYAML is the built-in rule set, used when screening.rules_file
// is empty. It is a byte-for-byte copy of configs/rules.yaml (a test keeps
// the two equal): go:embed cannot reach a parent directory.
//
//go:embed default_rules.yaml
var DefaultRulesYAML []byte

// Outcome is a screening decision.
type Outcome string

// The three outcomes, from mildest to strictest.
const (
	Accept Outcome = "accept"
	Review Outcome = "review"
	Reject Outcome = "reject"
)

func (o Outcome) rank() int {
	switch o {
	case Review:
		return 2
	case Reject:
		return 3
	case Accept:
		return 1
	}
	return 0
}

// Rule is one entry of the rules file.
type Rule struct {
	// Name identifies the rule in logs, metrics and errors.
	Name string `yaml:"name"`
	// Reason is the code put in the answer's reasons when the rule fires.
	Reason string `yaml:"reason"`
	// Detail is the human-readable text of the reason. Each {expression}
	// in it is evaluated over the signals: "{velocity.ip_1h} orders from
	// this IP in the last hour".
	Detail string `yaml:"detail"`
	// Expr is a boolean expr-lang expression over Signals.
	Expr string `yaml:"expr"`
	// Points are added to the score when the rule fires (may be
	// negative). A rule has points or a decision, not both.
	Points int `yaml:"points"`
	// Decision forces an outcome: accept, review or reject.
	Decision Outcome `yaml:"decision"`
}

// Reason is why a rule fired, as shown in the answer.
type Reason struct {
	Code   string `json:"code"`
	Detail string `json:"detail"`
}

// Verdict is the result of evaluating the rules over one order's signals.
type Verdict struct {
	Outcome Outcome
	Score   int
	// Reasons lists every rule that fired, in file order.
	Reasons []Reason
	// Fired names the rules that fired, in file order.
	Fired []string
	// Errors holds rules that failed at run time. Each also fired as a
	// forced review with reason rule_error: a broken rule never lets an
	// order through silently.
	Errors []error
}

// Rules is a compiled rule set with its thresholds. It is immutable and safe
// for concurrent use.
type Rules struct {
	rules    []compiledRule
	reviewAt int
	rejectAt int
}

type compiledRule struct {
	Rule
	program *vm.Program
	detail  []detailPart
}

// detailPart is literal text or, when program is set, an expression.
type detailPart struct {
	text    string
	program *vm.Program
}

type rulesFile struct {
	Rules []Rule `yaml:"rules"`
}

// LoadRules reads and compiles the rules file, or the built-in rules when
// file is empty. reviewAt and rejectAt are the score thresholds.
func LoadRules(file string, reviewAt, rejectAt int) (*Rules, error) {
	data := DefaultRulesYAML
	source := "built-in rules"
	if file != "" {
		var err error
		if data, err = os.ReadFile(file); err != nil {
			return nil, fmt.Errorf("reading rules: %w", err)
		}
		source = file
	}
	rules, err := ParseRules(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	compiled, err := CompileRules(rules, reviewAt, rejectAt)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	return compiled, nil
}

// ParseRules decodes a rules file. Unknown keys are errors.
func ParseRules(data []byte) ([]Rule, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var f rulesFile
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("parsing rules: %w", err)
	}
	if len(f.Rules) == 0 {
		return nil, errors.New("parsing rules: no rules")
	}
	return f.Rules, nil
}

// CompileRules checks and compiles every rule once; every bad rule is
// reported, each error naming its rule.
func CompileRules(rules []Rule, reviewAt, rejectAt int) (*Rules, error) {
	var errs []error
	if reviewAt < 1 || reviewAt > 100 || rejectAt < 1 || rejectAt > 100 || reviewAt > rejectAt {
		errs = append(errs, fmt.Errorf("thresholds review_at=%d reject_at=%d: need 1 <= review_at <= reject_at <= 100", reviewAt, rejectAt))
	}
	out := &Rules{reviewAt: reviewAt, rejectAt: rejectAt}
	seen := make(map[string]bool, len(rules))
	for i, r := range rules {
		label := fmt.Sprintf("rule %d", i+1)
		if r.Name != "" {
			label = fmt.Sprintf("rule %q", r.Name)
		}
		c, err := compileRule(r)
		if err == nil && seen[r.Name] {
			err = errors.New("duplicate name")
		}
		seen[r.Name] = true
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", label, err))
			continue
		}
		out.rules = append(out.rules, c)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

func compileRule(r Rule) (compiledRule, error) {
	var errs []error
	if !isCode(r.Name) {
		errs = append(errs, errors.New("name must be lower_snake_case letters, digits and _"))
	}
	if !isCode(r.Reason) {
		errs = append(errs, errors.New("reason must be a lower_snake_case code"))
	}
	if strings.TrimSpace(r.Detail) == "" {
		errs = append(errs, errors.New("detail is required: a person reads it"))
	}
	switch {
	case r.Decision == "" && r.Points == 0:
		errs = append(errs, errors.New("needs points or a decision"))
	case r.Decision != "" && r.Points != 0:
		errs = append(errs, errors.New("has both points and a decision"))
	case r.Decision != "" && r.Decision.rank() == 0:
		errs = append(errs, fmt.Errorf("decision %q: must be accept, review or reject", r.Decision))
	case r.Points < -100 || r.Points > 100:
		errs = append(errs, fmt.Errorf("points %d: must be between -100 and 100", r.Points))
	}
	c := compiledRule{Rule: r}
	if strings.TrimSpace(r.Expr) == "" {
		errs = append(errs, errors.New("expr is required"))
	} else {
		p, err := expr.Compile(r.Expr, expr.Env(Signals{}), expr.AsBool())
		if err != nil {
			errs = append(errs, fmt.Errorf("expr: %w", err))
		}
		c.program = p
	}
	parts, err := compileDetail(r.Detail)
	if err != nil {
		errs = append(errs, fmt.Errorf("detail: %w", err))
	}
	c.detail = parts
	return c, errors.Join(errs...)
}

// compileDetail splits "text {expr} text" into parts and compiles each
// expression.
func compileDetail(s string) ([]detailPart, error) {
	var parts []detailPart
	for s != "" {
		open := strings.IndexByte(s, '{')
		if open < 0 {
			if strings.IndexByte(s, '}') >= 0 {
				return nil, errors.New("'}' without '{'")
			}
			parts = append(parts, detailPart{text: s})
			break
		}
		if strings.IndexByte(s[:open], '}') >= 0 {
			return nil, errors.New("'}' without '{'")
		}
		end := strings.IndexByte(s[open:], '}')
		if end < 0 {
			return nil, errors.New("'{' without '}'")
		}
		if open > 0 {
			parts = append(parts, detailPart{text: s[:open]})
		}
		src := s[open+1 : open+end]
		p, err := expr.Compile(src, expr.Env(Signals{}))
		if err != nil {
			return nil, fmt.Errorf("{%s}: %w", src, err)
		}
		parts = append(parts, detailPart{program: p})
		s = s[open+end+1:]
	}
	return parts, nil
}

func isCode(s string) bool {
	if s == "" || len(s) > 64 || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// CheckVelocityNames reports every rule that reads a velocity counter
// (velocity.ip_1h or velocity["ip_1h"]) missing from known, the names the
// velocity counters produce. A missing counter reads 0, so a typo or a
// window that is not configured would silently disable the rule.
func (rs *Rules) CheckVelocityNames(known []string) error {
	var errs []error
	for _, r := range rs.rules {
		names := velocityRefs(r.program)
		for _, p := range r.detail {
			if p.program != nil {
				names = append(names, velocityRefs(p.program)...)
			}
		}
		for _, n := range names {
			if !slices.Contains(known, n) {
				errs = append(errs, fmt.Errorf("rule %q: velocity.%s is not a velocity counter (the counters are %s)",
					r.Name, n, strings.Join(known, ", ")))
			}
		}
	}
	return errors.Join(errs...)
}

// velocityRefs lists the constant keys a program reads from the velocity
// map.
func velocityRefs(p *vm.Program) []string {
	var v velocityVisitor
	node := p.Node()
	ast.Walk(&node, &v)
	return v.names
}

type velocityVisitor struct{ names []string }

func (v *velocityVisitor) Visit(node *ast.Node) {
	m, ok := (*node).(*ast.MemberNode)
	if !ok {
		return
	}
	if id, ok := m.Node.(*ast.IdentifierNode); !ok || id.Value != "velocity" {
		return
	}
	if s, ok := m.Property.(*ast.StringNode); ok && !slices.Contains(v.names, s.Value) {
		v.names = append(v.names, s.Value)
	}
}

// Names returns the rule names in file order.
func (rs *Rules) Names() []string {
	names := make([]string, len(rs.rules))
	for i, r := range rs.rules {
		names[i] = r.Name
	}
	return names
}

// Evaluate runs every rule over s and decides:
//
//   - score = the sum of the points of the rules that fired, clamped to
//     0..100. minFraud's risk score counts only through rules
//     (minfraud_risk_score in an expression), so the formula stays in the
//     rules file where an operator can read it.
//   - outcome: a forced reject beats a forced review, which beats a forced
//     accept, which beats the thresholds; without a forced decision the
//     score decides: >= reject_at rejects, >= review_at reviews, else
//     accept.
//   - a forced review or reject raises the score to at least review_at or
//     reject_at, so that score and outcome never contradict each other in
//     a queue sorted by score. A forced accept leaves the score as is.
func (rs *Rules) Evaluate(s *Signals) Verdict {
	var v Verdict
	points := 0
	var forced Outcome
	// One VM for all the rules: its stack is reused instead of allocated
	// per rule.
	var machine vm.VM
	for i := range rs.rules {
		r := &rs.rules[i]
		out, err := machine.Run(r.program, s)
		if err != nil {
			v.Errors = append(v.Errors, fmt.Errorf("rule %q: %w", r.Name, err))
			v.Fired = append(v.Fired, r.Name)
			v.Reasons = append(v.Reasons, Reason{Code: "rule_error", Detail: fmt.Sprintf("Rule %s could not be evaluated; the order needs a manual review.", r.Name)})
			if Review.rank() > forced.rank() {
				forced = Review
			}
			continue
		}
		if fired, _ := out.(bool); !fired {
			continue
		}
		v.Fired = append(v.Fired, r.Name)
		v.Reasons = append(v.Reasons, Reason{Code: r.Reason, Detail: r.renderDetail(&machine, s)})
		if r.Decision != "" {
			if r.Decision.rank() > forced.rank() {
				forced = r.Decision
			}
			continue
		}
		points += r.Points
	}
	v.Score = min(max(points, 0), 100)
	switch forced {
	case Reject:
		v.Outcome = Reject
		v.Score = max(v.Score, rs.rejectAt)
	case Review:
		v.Outcome = Review
		v.Score = max(v.Score, rs.reviewAt)
		if v.Score >= rs.rejectAt {
			v.Outcome = Reject
		}
	case Accept:
		v.Outcome = Accept
	default:
		switch {
		case v.Score >= rs.rejectAt:
			v.Outcome = Reject
		case v.Score >= rs.reviewAt:
			v.Outcome = Review
		default:
			v.Outcome = Accept
		}
	}
	return v
}

// renderDetail fills the detail's {expressions}. An expression that fails
// shows as "?" rather than hiding the reason.
func (r *compiledRule) renderDetail(machine *vm.VM, s *Signals) string {
	if len(r.detail) == 1 && r.detail[0].program == nil {
		return r.detail[0].text
	}
	var b strings.Builder
	for _, p := range r.detail {
		if p.program == nil {
			b.WriteString(p.text)
			continue
		}
		out, err := machine.Run(p.program, s)
		if err != nil {
			b.WriteByte('?')
			continue
		}
		b.WriteString(formatValue(out))
	}
	return b.String()
}

func formatValue(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case []string:
		return strings.Join(x, ", ")
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = formatValue(e)
		}
		return strings.Join(parts, ", ")
	}
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.Slice {
		parts := make([]string, rv.Len())
		for i := range parts {
			parts[i] = fmt.Sprint(rv.Index(i).Interface())
		}
		return strings.Join(parts, ", ")
	}
	return fmt.Sprint(v)
}
