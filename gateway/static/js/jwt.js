// A disposition token's claims read without verifying it: for labels on the viewer page only.
// The gateway verifies the signature and decides every play.

// The JWT's claims, unverified (display only), or null when it is not a JWT.
export function claimsOf(jwt) {
  const parts = String(jwt || "").split(".");
  if (parts.length !== 3) return null;
  try {
    const b64 = parts[1].replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(parts[1].length / 4) * 4, "=");
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const claims = JSON.parse(new TextDecoder().decode(bytes));
    return claims && typeof claims === "object" && Array.isArray(claims.cams) && claims.win ? claims : null;
  } catch {
    return null;
  }
}
