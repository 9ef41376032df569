package notify

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/policypush/policypush/internal/pii"
)

// LogChannel is the default SMS provider: it sends nothing, logs the notice
// with the mobile masked and answers with a generated message id.
type LogChannel struct {
	name   string
	logger *slog.Logger
}

var _ Channel = (*LogChannel)(nil)

// NewLogChannel returns a log channel named name (usually SMS).
func NewLogChannel(name string, logger *slog.Logger) *LogChannel {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &LogChannel{name: name, logger: logger}
}

// Name implements the Channel interface.
func (c *LogChannel) Name() string { return c.name }

// Send implements the Channel interface.
func (c *LogChannel) Send(ctx context.Context, n *Notice, to Recipient) (Result, error) {
	id := fmt.Sprintf("log-%d-%d", n.ID, n.Attempts+1)
	c.logger.InfoContext(ctx, "notice", "channel", c.name, "notice", n.ID, "policy", n.PolicyID,
		"mobile", pii.MaskMobile(to.Mobile), "msg_id", id)
	return Result{ProviderMsgID: id}, nil
}
