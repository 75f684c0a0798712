export class WebhookConfigError extends Error {}
export function webhookUsage(): string {
  return "";
}
export async function startWebhook(
  _values: Record<string, unknown>,
): Promise<{ closed: Promise<number> }> {
  throw new WebhookConfigError("not yet");
}
