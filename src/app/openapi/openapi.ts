import { type INestApplication } from '@nestjs/common';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';

/** Where the Swagger UI is served (its document at `${DOCS_PATH}-json`). */
export const DOCS_PATH = '/docs';

/** Serves the OpenAPI document at /docs-json and its UI at /docs. */
export function setUpOpenApi(app: INestApplication): void {
  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      // 3.1: the schemas are JSON Schema 2020-12 (`type: ["string", "null"]` for nullable fields).
      .setOpenAPIVersion('3.1.0')
      .setTitle('strikeguard reference service')
      .setDescription('Per-user strike counters and a tamper-evident audit trail')
      .setVersion('0.1.0')
      .addBearerAuth()
      .build(),
  );
  SwaggerModule.setup(DOCS_PATH, app, document, { jsonDocumentUrl: 'docs-json' });
}
