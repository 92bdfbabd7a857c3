"""The JSON API, one module per area. Each view validates its input, calls one
service or selector and serializes the result; membership is enforced by those
calls, not here. ``common`` holds the error shape every view shares."""
