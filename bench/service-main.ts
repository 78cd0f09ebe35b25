// The reference service exactly as `node dist/src/app/main.js` runs it, plus BenchController's
// baseline routes: AppModule.forRoot is wrapped to list one more controller, then main.js runs
// (createApp, config from the environment, migrations, listen) unchanged.
import 'reflect-metadata';
import { type DynamicModule } from '@nestjs/common';
import { AppModule } from '../src/app/app.module.js';
import { BenchController } from './bench.controller.js';

const forRoot = AppModule.forRoot.bind(AppModule);
AppModule.forRoot = (...args: Parameters<typeof AppModule.forRoot>): DynamicModule => {
  const module = forRoot(...args);
  return { ...module, controllers: [...(module.controllers ?? []), BenchController] };
};

await import('../src/app/main.js');
