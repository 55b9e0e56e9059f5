// A Go program that gets one token the way Go programs in the wild do, and prints the outcome as one JSON line
// (see ../README.md for the line's fields). Usage: azwi-sdk-go <mode> <resource> [client id]
//
//	azidentity-mi        azidentity.ManagedIdentityCredential (system default, or the client ID given)
//	azidentity-default   azidentity.DefaultAzureCredential (client ID ignored: the chain is configured by env only)
//	azidentity-workload  azidentity.WorkloadIdentityCredential, straight to Entra ID (the benchmark's reference)
//	azidentity-workload-proxy  the same with EnableAzureProxy: the AZURE_KUBERNETES_* custom token endpoint
//	adal-msi             go-autorest adal.NewServicePrincipalTokenFromManagedIdentity
package main

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/go-autorest/autorest/adal"
)

type result struct {
	OK          bool           `json:"ok"`
	Client      string         `json:"client"`
	Library     string         `json:"library"`
	Version     string         `json:"version"`
	Error       string         `json:"error,omitempty"`
	ErrorType   string         `json:"error_type,omitempty"`
	TokenSHA256 string         `json:"token_sha256,omitempty"`
	Claims      map[string]any `json:"claims,omitempty"`
	ExpiresOn   int64          `json:"expires_on,omitempty"`
	Ms          float64        `json:"ms"`
}

// Bounded: the SDKs' own IMDS retries could otherwise wait for minutes.
const budget = 90 * time.Second

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: azwi-sdk-go azidentity-mi|azidentity-default|azidentity-workload|azidentity-workload-proxy|adal-msi <resource> [client id]")
		os.Exit(2)
	}
	mode, resource, clientID := os.Args[1], os.Args[2], ""
	if len(os.Args) > 3 {
		clientID = os.Args[3]
	}
	r := result{Client: "go-" + mode}
	start := time.Now()
	var token string
	var expires time.Time
	var err error
	switch mode {
	case "azidentity-mi", "azidentity-default", "azidentity-workload", "azidentity-workload-proxy":
		r.Library = "github.com/Azure/azure-sdk-for-go/sdk/azidentity"
		token, expires, err = azidentityToken(mode, resource, clientID)
	case "adal-msi":
		r.Library = "github.com/Azure/go-autorest/autorest/adal"
		token, expires, err = adalToken(resource, clientID)
	default:
		fmt.Fprintf(os.Stderr, "azwi-sdk-go: unknown mode %q\n", mode)
		os.Exit(2)
	}
	r.Ms = float64(time.Since(start).Microseconds()) / 1000
	r.Version = moduleVersion(r.Library)
	if err != nil {
		r.Error, r.ErrorType = err.Error(), fmt.Sprintf("%T", err)
	} else {
		r.OK = true
		sum := sha256.Sum256([]byte(token))
		r.TokenSHA256 = hex.EncodeToString(sum[:])
		r.Claims = claims(token)
		r.ExpiresOn = expires.Unix()
	}
	out, _ := json.Marshal(r)
	fmt.Println(string(out))
	if !r.OK {
		os.Exit(1)
	}
}

type tokenGetter interface {
	GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error)
}

func azidentityToken(mode, resource, clientID string) (string, time.Time, error) {
	var (
		c   tokenGetter
		err error
	)
	switch mode {
	case "azidentity-mi":
		o := &azidentity.ManagedIdentityCredentialOptions{}
		if clientID != "" {
			o.ID = azidentity.ClientID(clientID)
		}
		c, err = azidentity.NewManagedIdentityCredential(o)
	case "azidentity-default":
		c, err = azidentity.NewDefaultAzureCredential(nil)
	case "azidentity-workload":
		// The emulator is no public cloud: no instance discovery (a reference point, not a path under test).
		c, err = azidentity.NewWorkloadIdentityCredential(&azidentity.WorkloadIdentityCredentialOptions{DisableInstanceDiscovery: true})
	case "azidentity-workload-proxy":
		c, err = azidentity.NewWorkloadIdentityCredential(&azidentity.WorkloadIdentityCredentialOptions{EnableAzureProxy: true})
	}
	if err != nil {
		return "", time.Time{}, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), budget)
	defer cancel()
	tok, err := c.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{strings.TrimSuffix(resource, "/") + "/.default"}})
	return tok.Token, tok.ExpiresOn, err
}

func adalToken(resource, clientID string) (string, time.Time, error) {
	var o *adal.ManagedIdentityOptions
	if clientID != "" {
		o = &adal.ManagedIdentityOptions{ClientID: clientID}
	}
	spt, err := adal.NewServicePrincipalTokenFromManagedIdentity(resource, o)
	if err != nil {
		return "", time.Time{}, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), budget)
	defer cancel()
	if err := spt.RefreshWithContext(ctx); err != nil {
		return "", time.Time{}, err
	}
	t := spt.Token()
	exp, err := strconv.ParseInt(string(t.ExpiresOn), 10, 64)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("adal gave expires_on %q: %w", t.ExpiresOn, err)
	}
	return t.AccessToken, time.Unix(exp, 0), nil
}

// The claims a test checks, from the token's payload (not verified here: the harness verifies the issuer's signature
// through the emulator's request log and keys).
func claims(token string) map[string]any {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil
	}
	var all map[string]any
	if json.Unmarshal(raw, &all) != nil {
		return nil
	}
	out := map[string]any{}
	for _, k := range []string{"aud", "appid", "tid", "iss", "exp"} {
		if v, ok := all[k]; ok {
			out[k] = v
		}
	}
	return out
}

func moduleVersion(path string) string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, d := range info.Deps {
			if d.Path == path {
				return d.Version
			}
		}
	}
	return "unknown"
}
