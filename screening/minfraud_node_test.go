package screening

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/vpsgate/gateway/internal/testenv"
)

// TestMinFraudRequestNodeClient builds the minFraud request of
// representative orders (checkouts of every built-in profile as the
// storefront sends them, and API orders) and validates each with MaxMind's
// official Node.js client, whose constructors check every field
// (testdata/minfraud_validate.js): also that its own hashing of the plain
// address gives the email hash the gateway sent, and that the processor is
// one of MaxMind's.
func TestMinFraudRequestNodeClient(t *testing.T) {
	node, modules := testenv.MinFraudNode(t)
	ip := netip.MustParseAddr("198.51.100.7")
	form := "application/x-www-form-urlencoded"
	type checkout struct {
		name, profile, ctype, body string
	}
	checkouts := []checkout{
		{"woocommerce classic", "woocommerce-classic", form, "billing_first_name=Ann&billing_last_name=Lee&billing_country=US&billing_address_1=1+Main+St&billing_city=San+Francisco" +
			"&billing_state=CA&billing_postcode=94107&billing_phone=%2B1+415+555+0100&billing_email=Ann.Lee%2Bvps%40GMail.com&payment_method=ppcp-gateway"},
		{"woocommerce blocks, internationalized address", "woocommerce-blocks", "application/json",
			`{"billing_address":{"first_name":"Renée","last_name":"Dupont","address_1":"1 rue X","city":"Montréal","state":"QC","postcode":"H2X 1Y4","country":"CA","email":"Renée.Dupont@example.ca","phone":"+15145550100"},"payment_method":"klarna"}`},
		{"woocommerce blocks, IDN domain", "woocommerce-blocks", "application/json",
			`{"billing_address":{"first_name":"Jürgen","last_name":"Groß","country":"CH","email":"jürgen@bücher.example","city":"Zürich","postcode":"8001"},"payment_method":"apple_pay"}`},
		{"whmcs with a card", "whmcs", form, "firstname=Ann&lastname=Lee&email=ann%40example.com&country=US&state=NY&city=New+York&postcode=10001" +
			"&address1=1+Main+St&phonenumber=2125550100&paymentmethod=stripe&ccnumber=5555555555554444"},
		{"whmcs with an unknown gateway", "whmcs", form, "firstname=Ann&lastname=Lee&email=ann%40example.com&country=GB&city=London&postcode=SW1A+1AA&paymentmethod=banktransfer"},
		{"blesta", "blesta", form, "first_name=Ann&last_name=Lee&email=ann%40example.com&country=JP&state=13&city=Tokyo&zip=100-0001&address1=1-1&numbers%5B0%5D%5Bnumber%5D=%2B81312345678"},
	}
	type line struct {
		Name    string          `json:"name"`
		Request json.RawMessage `json:"request"`
		Email   string          `json:"email"`
	}
	var in bytes.Buffer
	enc := json.NewEncoder(&in)
	add := func(name string, o Order) {
		t.Helper()
		email := o.Account.Email
		if err := o.Normalize(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		req := minFraudRequest(&o, netip.MustParseAddr(o.IP), time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC))
		b, err := json.Marshal(req)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := enc.Encode(line{name, b, email}); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range checkouts {
		r := InterceptRoute{Profile: c.profile}
		r.SetDefaults()
		o, err := r.MapOrder(c.ctype, "", nil, []byte(c.body), ip, "Mozilla/5.0 (X11; Linux x86_64)", "fr-CA,fr;q=0.9")
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		add(c.name, o)
	}
	o, err := DecodeOrder(strings.NewReader(exampleOrder))
	if err != nil {
		t.Fatal(err)
	}
	add("API order", o)

	cmd := exec.Command(node, "testdata/minfraud_validate.js")
	cmd.Env = append(os.Environ(), "NODE_PATH="+modules)
	cmd.Stdin = &in
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, stderr.String())
	}
	n := 0
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var res struct {
			Name, Error string
			OK          bool
		}
		if err := json.Unmarshal(sc.Bytes(), &res); err != nil {
			t.Fatalf("node printed %q: %v", sc.Text(), err)
		}
		n++
		if !res.OK {
			t.Errorf("%s: MaxMind's client refuses the request: %s", res.Name, res.Error)
		}
	}
	if n != len(checkouts)+1 {
		t.Fatalf("node validated %d requests, want %d\n%s", n, len(checkouts)+1, stderr.String())
	}
}
