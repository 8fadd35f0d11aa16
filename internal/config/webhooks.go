package config

import (
	"bytes"

	"go.yaml.in/yaml/v3"

	"github.com/vpsgate/gateway/internal/configerr"
	"github.com/vpsgate/gateway/webhooks"
)

// WebhooksConfig is webhook delivery's configuration: the `webhooks` list
// and the `webhook_delivery` section.
func (c *Config) WebhooksConfig() webhooks.Config {
	return webhooks.Config{Endpoints: c.Webhooks, DeliveryConfig: c.WebhookDelivery}
}

// webhooksHint explains a file that could not be decoded because its
// `webhooks` key is a mapping (`endpoints:`, `retry_schedule:` ...), the
// shape of earlier versions: the key is the list of endpoints now. Nil when
// that is not the file's problem.
func webhooksHint(data []byte) error {
	var root yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&root); err != nil || root.Kind != yaml.DocumentNode || len(root.Content) == 0 {
		return nil
	}
	top := root.Content[0]
	if top.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(top.Content); i += 2 {
		if top.Content[i].Value == webhooks.EndpointsKey && top.Content[i+1].Kind == yaml.MappingNode {
			return configerr.Field(webhooks.EndpointsKey, nil, "must be the list of endpoints (- url: ..., secret: ..., events: [...]); "+
				"the delivery settings (retry_schedule, max_retry_after, claim_after, retention, max_attempts_kept) go under "+webhooks.DeliveryKey)
		}
	}
	return nil
}
