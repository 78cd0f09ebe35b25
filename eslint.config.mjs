// @ts-check
import eslint from '@eslint/js';
import prettier from 'eslint-config-prettier';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'data/', 'var/', 'coverage/'] },
  eslint.configs.recommended,
  ...tseslint.configs.recommended,
  prettier,
  {
    languageOptions: {
      globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly' },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
      'no-restricted-imports': 'off',
    },
  },
  {
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    // The reference service and the CLI use the library through its public entry points only
    // (and the CLI, shipped in the package, never the service).
    files: ['src/app/**/*.ts', 'src/cli/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: [
                '**/audit/*',
                '**/strikes/*',
                '**/login/*',
                '**/transparency/*',
                '**/alerts/*',
                '**/common/*',
                '**/rest/*',
                '!**/rest/index.js',
              ],
              message:
                'the service and the CLI import the library only through src/index.ts or src/rest/index.ts',
            },
            {
              group: ['**/app/**'],
              message: 'the CLI ships in the package: it must not import the reference service',
            },
          ],
        },
      ],
    },
  },
  {
    // The library must never depend on the reference service that hosts it.
    files: [
      'src/strikes/**/*.ts',
      'src/login/**/*.ts',
      'src/transparency/**/*.ts',
      'src/alerts/**/*.ts',
      'src/audit/**/*.ts',
      'src/common/**/*.ts',
      'src/rest/**/*.ts',
      'src/index.ts',
      'migrations/**/*.ts',
    ],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/app/**'],
              message: 'library code must not import the reference service',
            },
          ],
        },
      ],
    },
  },
);
