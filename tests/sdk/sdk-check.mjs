// Drives the official OpenAI and Anthropic SDKs through a running meter and prints one JSON line of what they saw.
// Usage: node sdk-check.mjs <meter base URL> <scenario>
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';

const [base, scenario] = process.argv.slice(2);
const headers = { 'X-Tollgate-Metadata': JSON.stringify({ team: 'payments', repo: 'checkout', pipeline: 'sdk' }) };
// Default retry settings on purpose: the meter's 429 must make the SDK fail fast anyway.
const openai = new OpenAI({ apiKey: 'job-key', baseURL: `${base}/v1`, defaultHeaders: headers, maxRetries: 2 });
const anthropic = new Anthropic({ apiKey: 'job-key', baseURL: base, defaultHeaders: headers, maxRetries: 2 });

async function run() {
  switch (scenario) {
    case 'openai-stream': {
      const stream = await openai.chat.completions.create({ model: 'gpt-4o', stream: true, messages: [{ role: 'user', content: 'hi' }] });
      let content = '';
      let sawUsage = false;
      for await (const chunk of stream) {
        content += chunk.choices[0]?.delta?.content ?? '';
        sawUsage ||= chunk.usage != null;
      }
      return { content, sawUsage };
    }
    case 'anthropic-stream': {
      const message = await anthropic.messages.stream({ model: 'claude-sonnet-4-5', max_tokens: 256, messages: [{ role: 'user', content: 'hi' }] }).finalMessage();
      return { text: message.content.map((c) => c.text ?? '').join(''), usage: message.usage };
    }
    case 'openai-blocked':
      try {
        await openai.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] });
        return { status: 200 };
      } catch (err) {
        return { status: err.status, type: err.error?.type ?? err.type, message: err.message };
      }
    case 'anthropic-blocked':
      try {
        await anthropic.messages.create({ model: 'claude-sonnet-4-5', max_tokens: 64, messages: [{ role: 'user', content: 'hi' }] });
        return { status: 200 };
      } catch (err) {
        return { status: err.status, type: err.error?.error?.type, message: err.message };
      }
    default:
      throw new Error(`unknown scenario ${scenario}`);
  }
}

run().then(
  (result) => console.log(JSON.stringify(result)),
  (err) => {
    console.log(JSON.stringify({ error: String(err?.message ?? err) }));
    process.exitCode = 1;
  });
