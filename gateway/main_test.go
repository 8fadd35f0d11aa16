package gateway

import (
	"os"
	"testing"

	"github.com/gin-gonic/gin"
)

// TestMain quiets gin: its mode is process-wide state, set once here as
// cmd/gateway sets it once in main.
func TestMain(m *testing.M) {
	gin.SetMode(gin.TestMode)
	os.Exit(m.Run())
}
