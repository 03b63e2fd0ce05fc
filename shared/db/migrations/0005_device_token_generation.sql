-- Device tokens are derived from DEVICE_TOKEN_SECRET, the device id and this generation (bumped on every
-- rotation), so the platform can give the MQTT broker a device's credentials without storing any token.
-- Devices made before derived tokens have none until their token is rotated once.
ALTER TABLE devices ADD COLUMN token_generation int;
