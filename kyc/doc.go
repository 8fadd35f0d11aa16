// Package kyc holds what the gateway keeps about a customer's identity:
// the S3 document store for real-name (KYC) documents. Documents are private
// objects under opaque keys; officers reach them only through the gateway.
package kyc
