import { MemoryStore } from '../../src/store/memory.js';
import { describeStoreConformance } from './conformance.js';

describeStoreConformance('MemoryStore', async () => new MemoryStore());
